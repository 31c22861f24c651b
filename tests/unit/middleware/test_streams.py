"""Stream adapters of the middleware, on plain iterators."""
import io

import pytest

from storlets.errors import StorletRuntimeError
from storlets.middleware.streams import InputReader, OutputReader, slice_stream


class Body(list):
    closed = False

    def close(self):
        self.closed = True


@pytest.mark.parametrize('start,end', [(0, 10), (2, 5), (3, 4), (0, 1),
                                       (9, 10), (4, 9)])
def test_slice_stream(start, end):
    body = Body([b'012', b'345', b'6', b'789'])
    assert b''.join(slice_stream(body, start, end)) == b'0123456789'[start:end]
    assert body.closed


def test_input_reader_refuses_a_short_body():
    reader = InputReader(io.BytesIO(b'abc'), content_length=5)
    assert next(reader) == b'abc'
    with pytest.raises(StorletRuntimeError):
        next(reader)


def test_input_reader_stops_at_content_length():
    reader = InputReader(io.BytesIO(b'abcdef'), content_length=4)
    assert b''.join(reader) == b'abcd'


def test_output_reader_records_the_error():
    def broken():
        yield b'abc'
        raise StorletRuntimeError('boom')
    reader = OutputReader(broken())
    assert reader.read(2) == b'ab'
    with pytest.raises(StorletRuntimeError):
        reader.read(10)
    assert isinstance(reader.error, StorletRuntimeError)
