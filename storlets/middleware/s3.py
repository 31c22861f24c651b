"""Storlet requests that come through Swift's ``s3api`` filter.

``s3api`` (before the auth filter, so before ``storlet_handler``) turns an
S3 request into a Swift request carrying every header the client sent, so
``X-Run-Storlet``, ``X-Storlet-Parameter-*``, ``X-Storlet-Range`` and the
other client headers of the Swift API work unchanged on GetObject,
PutObject and CopyObject (a ``PUT`` with ``X-Copy-From``). The query string
is *not* passed on (``s3api`` builds its own), so storlet parameters must be
headers. On the way back ``s3api`` keeps only S3's own headers: the storlet's
metadata reaches the client as ``x-amz-meta-*`` and its ``Content-Type``,
while ``X-Storlet-*`` response headers are dropped.

Two things are adjusted here, only for requests marked by ``s3api``
(``swift.source`` is ``S3``):

* CopyObject first HEADs its source with the client's headers. That HEAD is
  ``s3api``'s existence check, not an invocation: the storlet client
  headers are removed from it (a HEAD with ``X-Run-Storlet`` is a ``405``).
* ``s3api`` maps a Swift error by status alone and keeps the body only for
  ``400`` (as ``InvalidRequest``): a ``401`` would read
  ``SignatureDoesNotMatch``, a ``405`` and every other status it does not
  know an ``InternalError``, and the storlet failures lose their text. The
  filter's own errors are therefore raised as ``s3api``'s error responses,
  which it answers as S3 XML errors, with our text as the ``Message``:
  ``401`` -> ``403 AccessDenied``, ``403`` -> ``403 AccessDenied``,
  ``405`` -> ``405 MethodNotAllowed``, ``500`` -> ``500 InternalError``,
  ``503`` -> ``503 ServiceUnavailable`` (with ``Retry-After`` when the node
  is busy). ``400`` and ``416`` are left to ``s3api`` (``InvalidRequest``
  with our text, ``InvalidRange``).
"""
from swift.common.middleware.s3api import s3response

from storlets.middleware import request as parse

#: ``swift.source`` of the Swift requests ``s3api`` makes for a client
S3_SOURCE = 'S3'
#: Error bodies longer than this are not ours (ours are one line)
MAX_MESSAGE = 1024


def from_s3api(env):
    return env.get('swift.source') == S3_SOURCE


def strip_copy_source_check(req):
    """Drop the storlet client headers from ``s3api``'s HEAD of a copy
    source (CopyObject's existence check, marked by ``X-Copy-From``)."""
    if req.method != 'HEAD' or 'X-Copy-From' not in req.headers:
        return
    for name in [h for h in req.headers.keys()
                 if h.lower() == 'x-run-storlet' or parse.is_client_header(h)]:
        del req.headers[name]


def _message(resp):
    if resp.content_type != 'text/plain' or resp.content_length is None \
            or resp.content_length > MAX_MESSAGE:
        return None
    try:
        return resp.body.decode('utf-8').strip() or None
    except UnicodeDecodeError:
        return None


def error_for(req, resp):
    """The ``s3api`` error response to raise for the filter's error
    response ``resp``, or None to hand ``resp`` to ``s3api`` as it is."""
    status = resp.status_int
    if status not in (401, 403, 405, 500, 503):
        return None
    msg = _message(resp)
    if status == 405:   # ours only: X-Run-Storlet on HEAD, DELETE, POST
        return s3response.MethodNotAllowed(req.method, 'OBJECT', msg)
    if msg is None:
        return None     # not one of ours (e.g. a backend's HTML error)
    if status in (401, 403):
        return s3response.AccessDenied(msg)
    if status == 500:
        return s3response.InternalError(msg)
    headers = {}
    if 'Retry-After' in resp.headers:
        headers['Retry-After'] = resp.headers['Retry-After']
    return s3response.ServiceUnavailable(msg, headers=headers)
