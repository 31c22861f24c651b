"""Framing round trips, with arbitrary re-chunking in between."""
import pytest

from storlets.errors import StorletRuntimeError
from storlets.middleware.framing import Unframe, frame


def rechunk(chunks, size):
    data = b''.join(chunks)
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize('size', [1, 3, 7, 64, 100000])
def test_round_trip(size):
    out = [b'abc', b'', b'd' * 70000, b'xyz']
    framed = rechunk(list(frame(iter(out))), size)
    assert b''.join(Unframe(framed)) == b''.join(out)


def test_failure_is_raised_after_the_data():
    def failing():
        yield b'partial'
        raise StorletRuntimeError('boom')
    unframed = Unframe(rechunk(list(frame(failing())), 5))
    assert next(unframed) == b'partial'
    with pytest.raises(StorletRuntimeError, match='boom'):
        next(unframed)


def test_cut_off_body_is_a_failure():
    framed = b''.join(frame(iter([b'data'])))[:-5]   # no end frame
    with pytest.raises(StorletRuntimeError, match='cut off'):
        b''.join(Unframe([framed]))


def test_garbage_is_a_failure():
    with pytest.raises(StorletRuntimeError):
        b''.join(Unframe([b'Z\x00\x00\x00\x00']))
