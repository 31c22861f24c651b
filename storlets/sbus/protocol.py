"""Sans-IO framing for SBus messages: JSON objects behind a 4-byte length.

Pure functions on bytes, so the framing is tested without sockets. See the
package docstring for the frame layout and the messages.
"""
import json
import struct
from typing import Any, Dict

#: Largest body accepted in one frame.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: Most descriptors accepted with one frame.
MAX_FDS = 64

HEADER = struct.Struct('>I')
HEADER_SIZE = HEADER.size


class ProtocolError(Exception):
    """The peer sent something that is not a valid SBus frame."""


class ChannelClosed(ProtocolError):
    """The peer closed the connection (possibly in the middle of a frame)."""


def encode(message: Dict[str, Any]) -> bytes:
    """Return the frame (header + body) for a JSON-serialisable dict."""
    if not isinstance(message, dict):
        raise TypeError('an SBus message is a dict, not %s'
                        % type(message).__name__)
    body = json.dumps(message, separators=(',', ':')).encode('utf-8')
    if len(body) > MAX_MESSAGE_SIZE:
        raise ProtocolError('message of %d bytes exceeds the %d byte limit'
                            % (len(body), MAX_MESSAGE_SIZE))
    return HEADER.pack(len(body)) + body


def decode_length(header: bytes) -> int:
    """Return the body length announced by a 4-byte header."""
    if len(header) != HEADER_SIZE:
        raise ProtocolError('short frame header')
    (length,) = HEADER.unpack(header)
    if length > MAX_MESSAGE_SIZE:
        raise ProtocolError('frame of %d bytes exceeds the %d byte limit'
                            % (length, MAX_MESSAGE_SIZE))
    return length


def decode_body(body: bytes, fd_count: int = 0) -> Dict[str, Any]:
    """Parse a frame body; check it is an object whose "fds" match."""
    try:
        message = json.loads(body.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError('frame body is not JSON: %s' % err)
    if not isinstance(message, dict):
        raise ProtocolError('frame body is not a JSON object')
    roles = message.get('fds', [])
    if not isinstance(roles, list) or len(roles) != fd_count:
        raise ProtocolError('frame announces %r descriptors but carries %d'
                            % (roles, fd_count))
    return message
