"""Small stream adapters between WSGI bodies and storlet inputs/outputs.

``InputReader`` turns a client's ``wsgi.input`` into an iterator of chunks
that fails loudly when the client sends less than it announced, so a
truncated upload never looks like a complete one to the storlet.
``OutputReader`` is the file-like ``wsgi.input`` of the PUT that stores a
storlet's output; it remembers why the output broke off, so the handler can
answer with the storlet error (and Swift stores nothing).
"""
from storlets.errors import StorletRuntimeError

CHUNK_SIZE = 65536


def close(iterable):
    """Close an iterator/app_iter if it can be closed."""
    closer = getattr(iterable, 'close', None)
    if closer:
        closer()


class InputReader:
    """Iterate a WSGI input in chunks; raise if it ends short."""

    def __init__(self, wsgi_input, content_length=None):
        self._input = wsgi_input
        self._expected = content_length
        self._received = 0

    def __iter__(self):
        return self

    def __next__(self):
        size = CHUNK_SIZE
        if self._expected is not None:
            size = min(size, self._expected - self._received)
            if size <= 0:
                raise StopIteration
        chunk = self._input.read(size)
        if not chunk:
            if self._expected is not None and \
                    self._received < self._expected:
                raise StorletRuntimeError(
                    'Client sent %d of %d bytes' % (self._received,
                                                    self._expected))
            raise StopIteration
        self._received += len(chunk)
        return chunk


class OutputReader:
    """A file-like view (``read``) of a storlet's output iterator."""

    def __init__(self, body):
        self._iter = iter(body)
        self._buffer = b''
        self._done = False
        #: the exception that ended the output early, if any
        self.error = None

    def read(self, size=-1):
        while not self._done and (size < 0 or len(self._buffer) < size):
            try:
                self._buffer += next(self._iter)
            except StopIteration:
                self._done = True
            except Exception as err:
                self.error = err
                self._done = True
                # Raising makes Swift abort the backend PUTs (no commit).
                raise
        if size < 0:
            data, self._buffer = self._buffer, b''
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, size=-1):
        return self.read(size)


def slice_stream(app_iter, start, end):
    """Yield bytes [start, end) of an iterator of chunks; then close it."""
    pos = 0
    try:
        for chunk in app_iter:
            chunk_end = pos + len(chunk)
            if chunk_end > start:
                yield chunk[max(start - pos, 0):end - pos]
            pos = chunk_end
            if pos >= end:
                break
    finally:
        close(app_iter)


class Prefetched:
    """The first bytes of a stream read ahead, then the rest of it.

    ``Prefetched(body, limit)`` reads up to ``limit`` bytes before the
    response starts, so a storlet that fails early is answered with a clean
    error status instead of a broken transfer; exceptions from that read
    propagate from the constructor.
    """

    def __init__(self, body, limit):
        self._body = body
        self._iter = iter(body)
        self._head = []
        size = 0
        try:
            while size < limit:
                chunk = next(self._iter)
                self._head.append(chunk)
                size += len(chunk)
        except StopIteration:
            self._iter = iter(())
        except BaseException:
            close(body)
            raise

    def __iter__(self):
        return self

    def __next__(self):
        if self._head:
            return self._head.pop(0)
        return next(self._iter)

    def close(self):
        close(self._body)
