"""Framing of a storlet's output between an object server and the proxy.

Why: when a storlet fails after its first byte, the object server must not
break the HTTP transfer. Swift's proxy would count that against the node
(enough of them and it stops using the node for everyone) and would try to
resume from another replica. Instead the object server ends the response
cleanly and says, inside the body, how the storlet ended; the proxy filter
strips the frames and aborts the client's response on a failure.

A framed body (response header ``X-Storlet-Framed: 1``) is a sequence of::

    +-----------+----------------------+------------------+
    | kind: 1 B | length: 4 bytes, BE  | payload: length  |
    +-----------+----------------------+------------------+

``D``: output data; ``E``: the storlet succeeded (empty payload, always the
last frame); ``F``: the storlet failed (payload: UTF-8 message; last frame).
A body that ends without ``E`` or ``F`` was cut off.
"""
import struct

from storlets.errors import StorletError, StorletRuntimeError
from storlets.middleware.streams import close

FRAMED_HEADER = 'X-Storlet-Framed'
_HEAD = struct.Struct('>cI')


def frame(body):
    """Object server: frame a storlet output iterator."""
    try:
        for chunk in body:
            if chunk:
                yield _HEAD.pack(b'D', len(chunk)) + chunk
    except StorletError as err:
        message = str(err).encode('utf-8')[:4096]
        yield _HEAD.pack(b'F', len(message)) + message
        return
    finally:
        close(body)
    yield _HEAD.pack(b'E', 0)


class Unframe:
    """Proxy: iterate the data of a framed body; raise on a failure."""

    def __init__(self, app_iter):
        self._source = app_iter
        self._iter = iter(app_iter)
        self._buffer = bytearray()
        self._done = False

    def __iter__(self):
        return self

    def _fill(self, size):
        while len(self._buffer) < size:
            try:
                self._buffer += next(self._iter)
            except StopIteration:
                raise StorletRuntimeError('Storlet output was cut off')

    def __next__(self):
        if self._done:
            raise StopIteration
        self._fill(_HEAD.size)
        kind, length = _HEAD.unpack_from(self._buffer)
        self._fill(_HEAD.size + length)
        payload = bytes(self._buffer[_HEAD.size:_HEAD.size + length])
        del self._buffer[:_HEAD.size + length]
        if kind == b'D':
            return payload
        self._done = True
        if kind == b'E':
            raise StopIteration
        if kind == b'F':
            raise StorletRuntimeError(payload.decode('utf-8', 'replace'))
        raise StorletRuntimeError('Storlet output is not framed correctly')

    def close(self):
        close(self._source)
