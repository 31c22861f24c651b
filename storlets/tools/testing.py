"""In-memory stand-ins for the files a Python storlet receives.

They enforce the contract's rules (metadata once, before any data; bytes
only), so a storlet that passes its unit tests with them does not fail in
the engine for those reasons::

    from storlets.tools.testing import FakeInput, FakeOutput, FakeLogger
    out = FakeOutput()
    MyStorlet(FakeLogger())([FakeInput(b'data', {'k': 'v'})], [out], {})
    assert out.data == b'...' and out.metadata == {...}
"""
import io


class FakeInput:
    """An input file over bytes, with user metadata."""

    def __init__(self, data=b'', metadata=None):
        if not isinstance(data, bytes):
            raise TypeError('input data must be bytes')
        self._stream = io.BytesIO(data)
        self._metadata = dict(metadata or {})

    def read(self, size=-1):
        return self._stream.read(size)

    def readline(self, size=-1):
        return self._stream.readline(size)

    def readlines(self, sizehint=-1):
        return self._stream.readlines(sizehint)

    def __iter__(self):
        return iter(lambda: self._stream.read(65536), b'')

    def get_metadata(self):
        return dict(self._metadata)

    def close(self):
        self._stream.close()

    @property
    def closed(self):
        return self._stream.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeOutput:
    """Records what a storlet writes; refuses what the engine refuses."""

    def __init__(self):
        self._chunks = []
        self._metadata = None
        self.closed = False

    def set_metadata(self, metadata):
        if self._metadata is not None:
            raise IOError('Sending metadata twice is not allowed')
        self._metadata = {str(k): str(v) for k, v in metadata.items()}

    def get_metadata(self):
        if self._metadata is None:
            raise IOError('Metadata is not set yet')
        return dict(self._metadata)

    def write(self, data):
        if self.closed:
            raise ValueError('I/O operation on closed file')
        if self._metadata is None:
            raise IOError('Body should be sent after metadata is sent')
        if isinstance(data, str):
            data = data.encode('utf-8')
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError('output data must be bytes')
        self._chunks.append(bytes(data))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def close(self):
        self.closed = True

    @property
    def data(self):
        return b''.join(self._chunks)

    @property
    def metadata(self):
        return self._metadata

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeLogger:
    """Collects log lines as the engine formats them."""

    def __init__(self, main='storlet'):
        self.main = main
        self.lines = []

    def _log(self, level, msg):
        self.lines.append('%s %s: %s' % (self.main, level, msg))

    def debug(self, msg):
        self._log('DEBUG', msg)

    def info(self, msg):
        self._log('INFO', msg)

    def warning(self, msg):
        self._log('WARN', msg)

    warn = warning

    def error(self, msg):
        self._log('ERROR', msg)

    def exception(self, msg):
        import traceback
        self._log('ERROR', '%s\n%s' % (msg, traceback.format_exc()))
