"""Turn a storlet's result into the headers and body of a Swift response.

Used identically on the proxy and on object servers, so a client sees the
same headers wherever the storlet ran (spec decision 2).
"""
from storlets.middleware.request import EXECUTED_HEADER, FAILURE_HEADER

#: Headers that describe the stored bytes, not the storlet's output.
STALE_HEADERS = ('Etag', 'Content-Length', 'Accept-Ranges', 'Content-Range',
                 'Transfer-Encoding', 'Content-Encoding')


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
