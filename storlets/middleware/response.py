"""Turn a storlet's result into the headers and body of a Swift response.

Used identically on the proxy and on object servers, so a client sees the
same headers wherever the storlet ran (spec decision 2).
"""
import re

from swift.common import constraints
from swift.common.swob import Response

from storlets.errors import StorletRuntimeError
from storlets.middleware.request import EXECUTED_HEADER, FAILURE_HEADER

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

#: Headers that describe the stored bytes, not the storlet's output.
STALE_HEADERS = ('Etag', 'Content-Length', 'Accept-Ranges', 'Content-Range',
                 'Transfer-Encoding', 'Content-Encoding')


def check_output_metadata(metadata):
    """Refuse storlet metadata a response could not carry.

    Keys must be HTTP header tokens and values free of control characters
    (no header injection); count, lengths and total size must stay within
    Swift's object metadata constraints, so every proxy can parse the
    response. Raises ``StorletRuntimeError`` naming the problem.
    """
    user = {k: v for k, v in metadata.items()
            if k.lower() != 'content-type'}
    for key, value in metadata.items():
        if not _TOKEN.fullmatch(key):
            raise StorletRuntimeError('Storlet metadata key %r is not a '
                                      'valid header name' % key[:64])
        if any(ord(c) < 32 and c != '\t' or ord(c) == 127 for c in value):
            raise StorletRuntimeError('Storlet metadata value of %r has '
                                      'control characters' % key[:64])
    if len(user) > constraints.MAX_META_COUNT:
        raise StorletRuntimeError('Storlet metadata has %d keys; at most %d'
                                  % (len(user), constraints.MAX_META_COUNT))
    size = 0
    for key, value in user.items():
        if len(key) > constraints.MAX_META_NAME_LENGTH or \
                len(value) > constraints.MAX_META_VALUE_LENGTH:
            raise StorletRuntimeError('Storlet metadata %r exceeds Swift\'s '
                                      'name or value length' % key[:64])
        size += len(key) + len(value)
    if size > constraints.MAX_META_OVERALL_SIZE:
        raise StorletRuntimeError('Storlet metadata of %d bytes exceeds %d'
                                  % (size, constraints.MAX_META_OVERALL_SIZE))


def wrap_body(resp, wrapper):
    """A copy of ``resp`` whose body is ``wrapper(resp.app_iter)``.

    (Assigning ``resp.app_iter`` would close the body being wrapped.)
    """
    return Response(status=resp.status, headers=dict(resp.headers),
                    app_iter=wrapper(resp.app_iter), request=resp.request)


def apply_result(resp, result, ran_on, input_range=None):
    """Point ``resp`` at the storlet output; rewrite its headers."""
    for name in STALE_HEADERS:
        resp.headers.pop(name, None)
    for key, value in result.metadata.items():
        if key.lower() == 'content-type':
            resp.headers['Content-Type'] = value
        else:
            resp.headers['X-Object-Meta-%s' % key] = value
    if input_range:
        resp.headers['Storlet-Input-Range'] = input_range
    resp.headers[EXECUTED_HEADER] = ran_on
    resp.status = 200
    resp.app_iter = result.body
    return resp


def mark_failure(resp, kind):
    """Object server: answer a failed storlet run with a marked, empty 200.

    A 2xx keeps Swift's proxy from retrying the GET on another replica (it
    would run the storlet again); the proxy filter turns the marker into the
    client-visible error.
    """
    close = getattr(resp.app_iter, 'close', None)
    if close:
        close()
    for name in STALE_HEADERS:
        resp.headers.pop(name, None)
    resp.status = 200
    resp.headers[FAILURE_HEADER] = kind
    resp.body = b''
    return resp
