"""Send and receive SBus frames, with descriptors, over a Unix stream socket.

The socket is used in non-blocking mode and every wait goes through
``selectors``; in a Swift server (where eventlet has patched ``select``,
``selectors`` and ``socket``) that wait is green, so one slow peer never blocks
other requests.
Every call takes an absolute ``deadline`` (``time.monotonic()`` based, or
None for no limit) and raises ``TimeoutError`` past it.
"""
import array
import errno
import os
import selectors
import socket
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from storlets.sbus.protocol import (
    HEADER_SIZE, MAX_FDS, ChannelClosed, ProtocolError, decode_body,
    decode_length, encode)

_FD_SIZE = array.array('i').itemsize


def deadline_after(seconds: Optional[float]) -> Optional[float]:
    """Absolute deadline ``seconds`` from now; None means no limit."""
    return None if seconds is None else time.monotonic() + seconds


def _wait(sock, deadline, write=False):
    remaining = None
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError('SBus peer did not answer in time')
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE if write
                          else selectors.EVENT_READ)
        if not selector.select(remaining):
            raise TimeoutError('SBus peer did not answer in time')


def _wait_a_little(deadline):
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError('SBus peer is too busy to accept a connection')
    time.sleep(0.005)


def connect(path: str, deadline: Optional[float] = None) -> socket.socket:
    """Open a non-blocking connection to the socket at ``path``.

    Raises ``OSError`` (e.g. ENOENT, ECONNREFUSED) when nobody listens.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        while True:
            # On a Unix socket EAGAIN means "backlog full, try again", not
            # "in progress": retry until the deadline.
            err = sock.connect_ex(path)
            if err == 0:
                break
            if err != errno.EAGAIN:
                raise OSError(err, os.strerror(err), path)
            _wait_a_little(deadline)
    except BaseException:
        sock.close()
        raise
    return sock


def send_message(sock: socket.socket, message: Dict[str, Any],
                 fds: Sequence[int] = (),
                 deadline: Optional[float] = None) -> None:
    """Send one frame; ``fds`` go with its first bytes."""
    if len(fds) != len(message.get('fds', [])):
        raise ProtocolError('message roles and descriptors disagree')
    data = memoryview(encode(message))
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                      array.array('i', fds).tobytes())]
    while data:
        try:
            sent = sock.sendmsg([data], ancillary)
        except BlockingIOError:
            _wait(sock, deadline, write=True)
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise ChannelClosed('SBus peer closed the connection')
        ancillary = []
        data = data[sent:]


def _recv(sock, size, deadline, fds):
    """Receive up to ``size`` bytes; collect passed descriptors in ``fds``."""
    while True:
        try:
            data, ancdata, flags, _ = sock.recvmsg(
                size, socket.CMSG_SPACE(MAX_FDS * _FD_SIZE))
        except BlockingIOError:
            _wait(sock, deadline)
            continue
        except ConnectionResetError:
            data, ancdata, flags = b'', [], 0
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % _FD_SIZE
                fds.extend(array.array('i', payload[:usable]))
        if flags & socket.MSG_CTRUNC:
            raise ProtocolError('too many descriptors in one frame')
        if not data:
            raise ChannelClosed('SBus peer closed the connection')
        return data


def _recv_exactly(sock, size, deadline, fds):
    chunks = []
    while size:
        chunk = _recv(sock, min(size, 1 << 20), deadline, fds)
        chunks.append(chunk)
        size -= len(chunk)
    return b''.join(chunks)


def recv_message(sock: socket.socket, deadline: Optional[float] = None
                 ) -> Tuple[Dict[str, Any], List[int]]:
    """Receive one frame: return ``(message, fds)``.

    The caller owns the returned descriptors. On any error, descriptors that
    arrived are closed before the exception propagates.
    """
    fds: List[int] = []
    try:
        length = decode_length(_recv_exactly(sock, HEADER_SIZE, deadline, fds))
        body = _recv_exactly(sock, length, deadline, fds)
        return decode_body(body, len(fds)), fds
    except BaseException:
        close_all(fds)
        raise


def close_all(fds: Iterable[int]) -> None:
    """Close every descriptor in ``fds``, ignoring ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def call(path: str, message: Dict[str, Any], fds: Sequence[int] = (),
         timeout: Optional[float] = None) -> Dict[str, Any]:
    """Connect, send one request, return the single reply message."""
    deadline = deadline_after(timeout)
    sock = connect(path, deadline)
    try:
        send_message(sock, message, fds, deadline)
        reply, extra = recv_message(sock, deadline)
        close_all(extra)
        return reply
    finally:
        sock.close()
