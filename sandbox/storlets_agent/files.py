"""The objects a Python storlet is handed: input files, output file, logger.

A storlet is called as ``Storlet(logger)(in_files, out_files, params)``.
This module is the whole API it sees (contract sections 3.3 to 3.5):

``StorletInputFile``
    Read-only, binary, streaming view of one descriptor. The gateway
    always hands a pipe that holds exactly the requested bytes (it never
    hands the object's data file, see storlets/gateway/execution.py); a
    seekable descriptor may still be limited to the byte window
    ``[start, end)`` (``storlets test``, the agent tests): it is positioned
    at ``start`` when it is opened and reads never go past ``end``.
    Iterating yields *byte chunks* of at most ``CHUNK_SIZE`` bytes, not
    lines.
``StorletOutputFile``
    The output data descriptor plus the metadata descriptor. Metadata must
    be set exactly once, before any data. Writes are unbuffered: they go
    straight to the descriptor, so the first byte reaches the gateway at
    once and ``flush()`` has nothing to do.
``StorletLogger``
    Appends ``"<Main> <LEVEL>: <message>"`` lines to the storlet's log file.

Every object owns its descriptors and closes them in ``close()``. Nothing
here knows about sockets, processes or the agent: the daemon builds these
objects around the descriptors of one invocation.
"""
import json
import os
import select
import sys
import traceback

#: Largest chunk read from a descriptor at once, and yielded by iteration.
CHUNK_SIZE = 64 * 1024


def _wait(fd, event):
    # Descriptors are normally blocking; this only matters if a peer has
    # made the shared file description non-blocking.
    poller = select.poll()
    poller.register(fd, event)
    poller.poll()


def _read(fd, size):
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            _wait(fd, select.POLLIN)


def _write_all(fd, data):
    """Write every byte of ``data``, looping over partial writes."""
    view = memoryview(data).cast('B')
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait(fd, select.POLLOUT)
            continue
        view = view[written:]


class _StorletFile:
    """What input and output files share: one owned descriptor."""

    def __init__(self, fd):
        self._fd = fd
        self._closed = False

    @property
    def closed(self):
        return self._closed

    def fileno(self):
        self._check_open()
        return self._fd

    def close(self):
        if not self._closed:
            self._closed = True
            os.close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _check_open(self):
        if self._closed:
            raise ValueError('I/O operation on closed file')


class StorletInputFile(_StorletFile):
    """One input of a storlet: the object (or extra resource) to read.

    ``metadata`` is the input's user metadata. ``start``/``end`` limit the
    input to the window ``[start, end)`` of a seekable file; ``start=None``
    with an ``end`` means "from the current position".
    """

    def __init__(self, fd, metadata=None, start=None, end=None):
        super().__init__(fd)
        self._metadata = dict(metadata or {})
        self._buffer = bytearray()
        self._eof = False
        self._remaining = None  # bytes left in the window; None: no window
        if start is not None:
            position = os.lseek(fd, start, os.SEEK_SET)
        elif end is not None:
            position = os.lseek(fd, 0, os.SEEK_CUR)
        if end is not None:
            self._remaining = max(0, end - position)

    def get_metadata(self):
        return dict(self._metadata)

    def _read_chunk(self, size=CHUNK_SIZE):
        """Read at most ``size`` bytes from the descriptor; b'' at the end."""
        if self._eof:
            return b''
        if self._remaining is not None:
            size = min(size, self._remaining)
        data = _read(self._fd, size) if size else b''
        if not data:
            self._eof = True
        elif self._remaining is not None:
            self._remaining -= len(data)
        return data

    def _take(self, size):
        data = bytes(self._buffer[:size])
        del self._buffer[:size]  # cheap: bytearray trims its front in O(1)
        return data

    def read(self, size=-1):
        self._check_open()
        if size is None or size < 0:
            chunks = [self._take(len(self._buffer))]
            while True:
                chunk = self._read_chunk()
                if not chunk:
                    return b''.join(chunks)
                chunks.append(chunk)
        while len(self._buffer) < size:
            chunk = self._read_chunk(max(CHUNK_SIZE, size - len(self._buffer)))
            if not chunk:
                break
            self._buffer += chunk
        return self._take(size)

    def readline(self, size=-1):
        self._check_open()
        if size is None:
            size = -1
        searched = 0
        while True:
            newline = self._buffer.find(b'\n', searched)
            if newline >= 0:
                length = newline + 1
                break
            if 0 <= size <= len(self._buffer):
                length = size
                break
            searched = len(self._buffer)
            chunk = self._read_chunk()
            if not chunk:
                length = len(self._buffer)
                break
            self._buffer += chunk
        if size >= 0:
            length = min(length, size)
        return self._take(length)

    def readlines(self, sizehint=-1):
        """Remaining lines; stop once they add up to ``sizehint`` bytes."""
        lines = []
        total = 0
        for line in iter(self.readline, b''):
            lines.append(line)
            total += len(line)
            if sizehint is not None and 0 < sizehint <= total:
                break
        return lines

    def __iter__(self):
        self._check_open()
        return self

    def __next__(self):
        """Next chunk of at most CHUNK_SIZE bytes: chunks, not lines."""
        self._check_open()
        if self._buffer:
            return self._take(CHUNK_SIZE)
        chunk = self._read_chunk()
        if not chunk:
            raise StopIteration
        return chunk

    def close(self):
        super().close()
        self._buffer = bytearray()

    def seek(self, *args, **kwargs):
        raise NotImplementedError('Input files are not seekable')

    def write(self, *args, **kwargs):
        raise NotImplementedError('Input files are read-only')

    def writelines(self, *args, **kwargs):
        raise NotImplementedError('Input files are read-only')

    def set_metadata(self, *args, **kwargs):
        raise NotImplementedError('Input metadata is read-only')

    def flush(self, *args, **kwargs):
        raise NotImplementedError('Input files are read-only')


class StorletOutputFile(_StorletFile):
    """The storlet's output: metadata first (once), then the data."""

    def __init__(self, data_fd, metadata_fd):
        super().__init__(data_fd)
        self._metadata_fd = metadata_fd
        self._metadata = None

    @property
    def metadata_sent(self):
        """True once ``set_metadata`` has handed the metadata over."""
        return self._metadata is not None

    def set_metadata(self, metadata):
        self._check_open()
        if self._metadata is not None:
            raise IOError('Sending metadata twice is not allowed')
        metadata = {str(key): str(value)
                    for key, value in dict(metadata).items()}
        fd, self._metadata_fd = self._metadata_fd, None
        if fd is None:
            raise IOError('The metadata channel is closed')
        try:
            _write_all(fd, json.dumps(metadata).encode('utf-8'))
        finally:
            os.close(fd)  # closing is what tells the gateway "that's all"
        self._metadata = metadata

    def get_metadata(self):
        if self._metadata is None:
            raise IOError('Metadata is not set yet')
        return dict(self._metadata)

    def write(self, data):
        self._check_open()
        if self._metadata is None:
            raise IOError('Body should be sent after metadata is sent')
        if isinstance(data, str):
            data = data.encode('utf-8')
        _write_all(self._fd, data)
        return len(data)

    def writelines(self, lines):
        for data in lines:
            self.write(data)

    def flush(self):
        """Nothing to do: writes are not buffered."""

    def close(self):
        fd, self._metadata_fd = self._metadata_fd, None
        if fd is not None:
            os.close(fd)  # metadata never set: the gateway sees none
        super().close()

    def read(self, *args, **kwargs):
        raise NotImplementedError('The output file is write-only')

    def readline(self, *args, **kwargs):
        raise NotImplementedError('The output file is write-only')

    def readlines(self, *args, **kwargs):
        raise NotImplementedError('The output file is write-only')

    def __iter__(self):
        raise NotImplementedError('The output file is write-only')

    def seek(self, *args, **kwargs):
        raise NotImplementedError('The output file is not seekable')


class StorletLogger:
    """The storlet's log: one ``"<Main> <LEVEL>: <msg>"`` line per line.

    A message spanning several lines gets the prefix on each of them, so
    every line of the log says whose it is and at which level. Write
    errors are ignored: logging must never break the storlet's output.
    Like ``logging``, extra arguments are %-formatted into the message.

    In the sandbox, ``fd`` is a pipe to the call's supervisor, which keeps
    at most ``--max-log-size`` bytes of the call's log (see supervisor.py).
    """

    def __init__(self, main, fd):
        self._main = main
        self._fd = fd
        self._closed = False

    @property
    def closed(self):
        return self._closed

    def _log(self, level, msg, args):
        if self._closed:
            raise ValueError('I/O operation on closed logger')
        text = str(msg) % args if args else str(msg)
        lines = text.rstrip('\n').split('\n')
        data = ''.join('%s %s: %s\n' % (self._main, level, line)
                       for line in lines)
        try:
            # One write per call, so concurrent calls do not interleave.
            _write_all(self._fd, data.encode('utf-8', 'backslashreplace'))
        except OSError:
            pass

    def debug(self, msg, *args):
        self._log('DEBUG', msg, args)

    def info(self, msg, *args):
        self._log('INFO', msg, args)

    def warning(self, msg, *args):
        self._log('WARN', msg, args)

    warn = warning

    def error(self, msg, *args):
        self._log('ERROR', msg, args)

    def exception(self, msg, *args):
        """Log ``msg`` and the traceback of the exception being handled."""
        text = str(msg) % args if args else str(msg)
        if sys.exc_info()[0] is not None:
            text = text + '\n' + traceback.format_exc()
        self._log('ERROR', text, ())

    def close(self):
        if not self._closed:
            self._closed = True
            os.close(self._fd)
