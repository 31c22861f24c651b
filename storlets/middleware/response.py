"""Turn a storlet's result into the headers and body of a Swift response.

Used identically on the proxy and on object servers, so a client sees the
same headers wherever the storlet ran. A call that fails before its output
becomes a response in ``failure_response`` (from ``storlets.errors``'
table) or, on an object server, a marked answer to the proxy
(``mark_failure``).

Output metadata
---------------
A storlet's output metadata is untrusted text. ``output_headers`` is the one
place where it becomes headers, for every path: a GET (object server or
proxy, ``apply_result``), a PUT and both forms of copy (the proxy's PUT of
the output; a copy's metadata is that of its storlet GET). It runs in the
middleware, right after the invocation and before any of it reaches Swift,
rather than in the gateway: the headers are an HTTP concern, and every
gateway (the Docker one, the unit tests' stub) goes through it. The rule is
Swift's own for user metadata, plus what HTTP needs:

* a key is a non-empty HTTP token (so ASCII, no ``:``, CR, LF, NUL, space);
  ``Content-Type`` (any case) sets the content type; keys starting with
  ``Storlet-`` are reserved for registered storlets and refused;
* a value is any Unicode text without control characters (HTAB allowed)
  and valid as UTF-8 (no lone surrogates); leading and trailing blanks are
  dropped, as HTTP drops them from any header. It is sent as Swift sends
  user metadata: UTF-8 bytes, as a WSGI string (``str_to_wsgi``), so a
  later HEAD returns it exactly as if the user had set it;
* count, name and value lengths and overall size are checked by Swift's
  ``check_metadata`` itself, over those WSGI strings (UTF-8 bytes).

Anything else is the storlet's failure (``StorletRuntimeError`` naming the
problem): the handlers answer it as any storlet failure, store nothing, and
no object server ever sees the headers. Keys that differ only in case name
one header: the last one the storlet set wins.
"""
import re
import unicodedata
from typing import Callable, Iterable, Mapping, Optional

from swift.common import constraints
from swift.common.header_key_dict import HeaderKeyDict
from swift.common.swob import Request, Response, str_to_wsgi

from storlets.errors import FAILURES, StorletRuntimeError
from storlets.gateway.invocation import StorletResult
from storlets.middleware.request import (
    EXECUTED_HEADER, FAILURE_HEADER, STORLET_META_PREFIX, USER_META_PREFIX)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BLANKS = ' \t'
_RESERVED = STORLET_META_PREFIX[len(USER_META_PREFIX):]   # 'storlet-'

#: Headers that describe the stored bytes, not the storlet's output.
STALE_HEADERS = ('Etag', 'Content-Length', 'Accept-Ranges', 'Content-Range',
                 'Transfer-Encoding', 'Content-Encoding')


def _refuse(message, *args):
    raise StorletRuntimeError('Storlet output metadata refused: ' +
                              message % args)


def _header_value(key, value):
    """``value`` as a WSGI string, or refuse it (see the module doc)."""
    if not isinstance(value, str):
        _refuse('value of %r is not text', key)
    value = value.strip(_BLANKS)
    if any(unicodedata.category(c) == 'Cc' and c != '\t' for c in value):
        _refuse('value of %r has control characters', key)
    if value and not constraints.check_utf8(value):
        _refuse('value of %r is not valid UTF-8', key)
    return str_to_wsgi(value)


def output_headers(metadata: Mapping[str, str]) -> HeaderKeyDict:
    """A storlet's output metadata as response/object headers.

    Returns a ``HeaderKeyDict`` of ``Content-Type`` and
    ``X-Object-Meta-<key>`` headers with WSGI string values; raises
    ``StorletRuntimeError`` naming the problem for metadata Swift would
    refuse or HTTP could not carry (see the module docstring).
    """
    if not isinstance(metadata, dict):
        _refuse('not a map of keys to values')
    headers = HeaderKeyDict()
    for key, value in metadata.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            _refuse('key %r is not a valid header name', key[:64]
                    if isinstance(key, str) else key)
        if key.lower() == 'content-type':
            headers['Content-Type'] = _header_value(key, value)
        elif key.lower().startswith(_RESERVED):
            _refuse('key %r is reserved (Storlet-* keys describe registered '
                    'storlets)', key[:64])
        else:
            headers['X-Object-Meta-' + key] = _header_value(key[:64], value)
    bad = constraints.check_metadata(
        Request.blank('/', headers=dict(headers)), 'object')
    if bad is not None:
        _refuse('%s', bad.body.decode('utf-8', 'replace'))
    return headers


def wrap_body(resp: Response,
              wrapper: Callable[[Iterable[bytes]], Iterable[bytes]]
              ) -> Response:
    """A copy of ``resp`` whose body is ``wrapper(resp.app_iter)``.

    (Assigning ``resp.app_iter`` would close the body being wrapped.)
    """
    return Response(status=resp.status, headers=dict(resp.headers),
                    app_iter=wrapper(resp.app_iter), request=resp.request)


def apply_result(resp: Response, result: StorletResult,
                 headers: Mapping[str, str], ran_on: str,
                 input_range: Optional[str] = None) -> Response:
    """Point ``resp`` at the storlet output; rewrite its headers.

    ``headers`` are the result's ``output_headers``.
    """
    for name in STALE_HEADERS:
        resp.headers.pop(name, None)
    resp.headers.update(headers)
    if input_range:
        resp.headers['Storlet-Input-Range'] = input_range
    resp.headers[EXECUTED_HEADER] = ran_on
    resp.status = 200
    resp.app_iter = result.body
    return resp


def mark_failure(resp: Response, kind: str) -> Response:
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


def failure_response(kind: str, put: bool = False) -> Response:
    """The client's response to a call that failed before any output:
    ``kind`` is a ``StorletError.failure_kind`` (an object server's
    ``X-Storlet-Failure`` marker on the proxy); ``put`` for a PUT or copy,
    where nothing was stored."""
    failure = FAILURES.get(kind, FAILURES['failed'])
    headers = {}
    if failure.retry_after is not None:
        headers['Retry-After'] = str(failure.retry_after)
    return Response(status=failure.put_status if put else failure.status,
                    body=failure.body, content_type='text/plain',
                    headers=headers)
