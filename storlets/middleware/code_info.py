"""What the proxy knows about storlet and dependency objects, cached.

Every invocation needs two facts about the storlet object: may this user
read it (the right to run it), and which version is it (metadata, ETag,
timestamp, dependencies). Asking with a HEAD subrequest per invocation costs
more proxy CPU than the invocation's own GET, so:

* **Authorisation** is decided exactly as Swift's object controller decides
  a read: the storlet container's read ACL (from Swift's cached container
  info) handed to ``swift.authorize`` for the requesting user.
* **Version facts** are cached in memcache (shared by every proxy) for
  ``CACHE_TTL`` seconds and dropped by this filter whenever a request that
  may change the object (PUT, POST, DELETE, COPY onto it) passes through, so
  a re-upload is still used on the very next request. The HEAD asks for the
  newest replica (``X-Newest``): a node that missed a re-upload while it
  was down must not make the proxy run the old version.
"""
from typing import Any, Callable, Dict, Optional
from urllib.parse import quote

from swift.common.http import is_success
from swift.common.swob import Request
from swift.common.wsgi import make_pre_authed_request, make_subrequest
from swift.proxy.controllers.base import get_container_info

from storlets.middleware.streams import close

CACHE_TTL = 60
#: Headers of a code object that the engine needs, and those that show it
#: is not a plain object (a symlink, a DLO or SLO manifest): the proxy
#: refuses to run such a storlet.
KEPT_HEADERS = ('etag', 'x-timestamp', 'x-symlink-target',
                'x-object-manifest', 'x-static-large-object')
SWIFT_SOURCE = 'SH'


def cache_key(account: str, container: str, obj: str) -> str:
    return 'storlets/code/%s/%s/%s' % (account, container, obj)


def _path(account, container, obj=None):
    parts = [account, container] + ([obj] if obj is not None else [])
    return quote('/v1/' + '/'.join(parts))


def may_read(req: Request, app: Callable, account: str, container: str,
             obj: str) -> bool:
    """True when the requesting user may read ``container/obj``."""
    authorize = req.environ.get('swift.authorize')
    sub = make_subrequest(req.environ, method='GET',
                          path=_path(account, container, obj), headers={},
                          swift_source=SWIFT_SOURCE)
    info = get_container_info(sub.environ, app, swift_source=SWIFT_SOURCE)
    if not is_success(info.get('status') or 0):
        return False
    if authorize is None:
        return True
    sub.acl = info.get('read_acl')
    return not authorize(sub)


def object_facts(req: Request, app: Callable, account: str,
                 container: str, obj: str) -> Optional[Dict[str, str]]:
    """{lower-case header: value} of a code object, or None if missing."""
    cache = req.environ.get('swift.cache')
    key = cache_key(account, container, obj)
    facts = cache.get(key) if cache is not None else None
    if facts is not None:
        return facts or None
    # The object itself, never what it points to: a symlink's target, a
    # manifest's segments (which would also cost their reads).
    head = make_pre_authed_request(
        req.environ, method='HEAD',
        path=_path(account, container, obj) +
        '?symlink=get&multipart-manifest=get',
        headers={'X-Newest': 'true'}, swift_source=SWIFT_SOURCE)
    resp = head.get_response(app)
    close(resp.app_iter)
    facts = {}
    if is_success(resp.status_int):
        facts = {k.lower(): v for k, v in resp.headers.items()
                 if k.lower() in KEPT_HEADERS
                 or k.lower().startswith('x-object-meta-storlet-')}
    if cache is not None:
        cache.set(key, facts, time=CACHE_TTL)
    return facts or None


def forget(environ: Dict[str, Any], account: str, container: str,
           obj: str) -> None:
    """Drop cached facts about an object that is about to change."""
    cache = environ.get('swift.cache')
    if cache is not None:
        cache.delete(cache_key(account, container, obj))
