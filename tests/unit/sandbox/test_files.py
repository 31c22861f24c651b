"""The storlet-facing file objects on real pipes and files (docs/storlet-contract.md)."""
import json
import os
import threading

import pytest

from storlets_agent.files import (
    CHUNK_SIZE, StorletInputFile, StorletLogger, StorletOutputFile)

CONTENT = b'abcd\nefg\nhi\nj'
# The contract's ranged example: CONTENT is the window [8, 21) of this.
RANGED_CONTENT = b'012\n345\nabcd\nefg\nhi\nj67\n8'


def feed(data):
    """Read end of a pipe that delivers ``data`` then EOF."""
    read_fd, write_fd = os.pipe()

    def writer():
        try:
            with open(write_fd, 'wb') as pipe:
                pipe.write(data)
        except BrokenPipeError:  # the test closed the input early
            pass

    if len(data) < 4096:  # fits in the pipe: no thread needed
        writer()
    else:
        threading.Thread(target=writer, daemon=True).start()
    return read_fd


def drain(fd):
    """Everything readable from ``fd`` until EOF, in a thread; join() it."""
    result = []

    def reader():
        with open(fd, 'rb') as pipe:
            result.append(pipe.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, result


@pytest.fixture(params=['pipe', 'window'])
def source(request, tmp_path):
    """Build a StorletInputFile over CONTENT: a pipe, or a file window."""
    opened = []

    def make(metadata=None):
        if request.param == 'pipe':
            f = StorletInputFile(feed(CONTENT), metadata)
        else:
            path = tmp_path / 'object'
            path.write_bytes(RANGED_CONTENT)
            f = StorletInputFile(os.open(path, os.O_RDONLY), metadata,
                                 start=8, end=21)
        opened.append(f)
        return f

    yield make
    for f in opened:
        f.close()


def repeat(method, *args):
    """Call until b'' and return every result, the final b'' included."""
    results = []
    while True:
        results.append(method(*args))
        if not results[-1]:
            return results


# -- input ------------------------------------------------------------------

def test_read_all(source):
    f = source()
    assert f.read() == CONTENT
    assert f.read() == b''


def test_read_by_three(source):
    assert repeat(source().read, 3) == [
        b'abc', b'd\ne', b'fg\n', b'hi\n', b'j', b'']


def test_readline(source):
    assert repeat(source().readline) == [
        b'abcd\n', b'efg\n', b'hi\n', b'j', b'']


def test_readline_by_three(source):
    assert repeat(source().readline, 3) == [
        b'abc', b'd\n', b'efg', b'\n', b'hi\n', b'j', b'']


def test_readlines(source):
    assert source().readlines() == [b'abcd\n', b'efg\n', b'hi\n', b'j']


@pytest.mark.parametrize('hint, lines', [
    (5, [b'abcd\n']),
    (6, [b'abcd\n', b'efg\n']),
    (0, [b'abcd\n', b'efg\n', b'hi\n', b'j']),
    (-1, [b'abcd\n', b'efg\n', b'hi\n', b'j']),
])
def test_readlines_stops_at_sizehint(source, hint, lines):
    f = source()
    assert f.readlines(hint) == lines
    assert f.read() == CONTENT[sum(map(len, lines)):]


def test_iteration_after_a_partial_read(source):
    f = source()
    assert f.read(3) == b'abc'
    assert b''.join(f) == CONTENT[3:]


def test_iteration_yields_bounded_chunks():
    data = os.urandom(3 * CHUNK_SIZE + 123)
    with StorletInputFile(feed(data)) as f:
        chunks = list(f)
    assert b''.join(chunks) == data
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)


def test_lines_longer_than_a_chunk():
    line = b'x' * (2 * CHUNK_SIZE + 1) + b'\n'
    with StorletInputFile(feed(line + b'tail')) as f:
        assert f.readline() == line
        assert f.readline() == b'tail'


def test_window_is_positioned_and_bounded(tmp_path):
    path = tmp_path / 'object'
    path.write_bytes(RANGED_CONTENT)
    with StorletInputFile(os.open(path, os.O_RDONLY), start=4) as f:
        assert f.read() == RANGED_CONTENT[4:]
    with StorletInputFile(os.open(path, os.O_RDONLY), start=20,
                          end=1000) as f:
        assert f.read() == RANGED_CONTENT[20:]
    with StorletInputFile(os.open(path, os.O_RDONLY), start=5, end=5) as f:
        assert f.read() == b''


def test_window_on_a_pipe_cannot_seek():
    fd = feed(CONTENT)
    with pytest.raises(OSError):
        StorletInputFile(fd, start=2)
    os.close(fd)


def test_metadata_is_a_fresh_copy(source):
    f = source({'Color': 'red'})
    f.get_metadata()['Color'] = 'blue'
    assert f.get_metadata() == {'Color': 'red'}


def test_close_closed_fileno_and_context_manager():
    fd = feed(CONTENT)
    with StorletInputFile(fd) as f:
        assert f.fileno() == fd
        assert not f.closed
    assert f.closed
    with pytest.raises(OSError):
        os.fstat(fd)  # really closed
    with pytest.raises(ValueError):
        f.read()
    f.close()  # twice is fine


@pytest.mark.parametrize('call', [
    lambda f: f.seek(0), lambda f: f.write(b'x'), lambda f: f.writelines([]),
    lambda f: f.set_metadata({}), lambda f: f.flush()])
def test_input_is_read_only(source, call):
    with pytest.raises(NotImplementedError):
        call(source())


# -- output -----------------------------------------------------------------

@pytest.fixture
def output():
    """(StorletOutputFile, data reader, metadata reader); readers: threads."""
    data_r, data_w = os.pipe()
    meta_r, meta_w = os.pipe()
    data_reader = drain(data_r)
    meta_reader = drain(meta_r)
    out = StorletOutputFile(data_w, meta_w)
    yield out, data_reader, meta_reader
    out.close()


def result(reader):
    thread, value = reader
    thread.join(5)
    return value[0]


def test_metadata_then_data(output):
    out, data, meta = output
    out.set_metadata({'Color': 'red', 'Size': 3})
    # Sent and closed at once: the gateway need not wait for the data.
    assert json.loads(result(meta)) == {'Color': 'red', 'Size': '3'}
    assert out.get_metadata() == {'Color': 'red', 'Size': '3'}
    assert out.write(b'abc') == 3
    out.write('dé')
    out.writelines([b'1', b'2'])
    out.flush()
    out.close()
    assert result(data) == b'abcd\xc3\xa912'
    assert out.closed


def test_metadata_rules(output):
    out, data, meta = output
    with pytest.raises(IOError, match='^Metadata is not set yet$'):
        out.get_metadata()
    with pytest.raises(IOError,
                       match='^Body should be sent after metadata is sent$'):
        out.write(b'early')
    out.set_metadata({})
    with pytest.raises(IOError,
                       match='^Sending metadata twice is not allowed$'):
        out.set_metadata({'again': 'yes'})
    out.close()
    assert result(meta) == b'{}'
    assert result(data) == b''


def test_large_writes_go_through_a_pipe(output):
    out, data, _ = output
    payload = os.urandom(4 * 1024 * 1024)
    out.set_metadata({})
    out.write(payload)
    out.close()
    assert result(data) == payload


def test_close_without_metadata_sends_none(output):
    out, data, meta = output
    out.close()
    assert result(meta) == b''
    assert result(data) == b''
    with pytest.raises(ValueError):
        out.write(b'x')


def test_output_context_manager_and_fileno():
    data_r, data_w = os.pipe()
    meta_r, meta_w = os.pipe()
    with StorletOutputFile(data_w, meta_w) as out:
        assert out.fileno() == data_w
    assert out.closed
    assert os.read(meta_r, 10) == b''
    assert os.read(data_r, 10) == b''
    os.close(data_r)
    os.close(meta_r)


@pytest.mark.parametrize('call', [
    lambda f: f.read(), lambda f: f.readline(), lambda f: f.readlines(),
    lambda f: iter(f), lambda f: f.seek(0)])
def test_output_is_write_only(output, call):
    with pytest.raises(NotImplementedError):
        call(output[0])


# -- logger -----------------------------------------------------------------

@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / 'storlet.log'
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    logger = StorletLogger('mod.Storlet', fd)
    yield logger, path
    logger.close()


def test_one_line_per_call(log_file):
    logger, path = log_file
    logger.debug('d')
    logger.info('i %s %d', 'x', 1)
    logger.warning('w')
    logger.warn('w2')
    logger.error('e')
    assert path.read_text() == (
        'mod.Storlet DEBUG: d\n'
        'mod.Storlet INFO: i x 1\n'
        'mod.Storlet WARN: w\n'
        'mod.Storlet WARN: w2\n'
        'mod.Storlet ERROR: e\n')


def test_every_line_of_a_message_is_prefixed(log_file):
    logger, path = log_file
    logger.info('one\ntwo\n')
    assert path.read_text() == 'mod.Storlet INFO: one\nmod.Storlet INFO: two\n'


def test_exception_logs_the_traceback(log_file):
    logger, path = log_file
    try:
        raise KeyError('missing')
    except KeyError:
        logger.exception('lookup failed')
    lines = path.read_text().splitlines()
    assert lines[0] == 'mod.Storlet ERROR: lookup failed'
    assert lines[1] == 'mod.Storlet ERROR: Traceback (most recent call last):'
    assert lines[-1] == "mod.Storlet ERROR: KeyError: 'missing'"


def test_exception_outside_except_logs_the_message(log_file):
    logger, path = log_file
    logger.exception('no exception')
    assert path.read_text() == 'mod.Storlet ERROR: no exception\n'


def test_closed_logger(log_file):
    logger, _ = log_file
    logger.close()
    assert logger.closed
    with pytest.raises(ValueError):
        logger.info('late')
