"""Pure parsing of storlet requests: headers and query in, values out.

No I/O here. Every function raises ``swob`` HTTP exceptions with the spec's
exact bodies, so handlers can call them and let the edge turn the exception
into a response.
"""
from urllib.parse import unquote

from swift.common.swob import (
    HTTPBadRequest, HTTPForbidden, HTTPPreconditionFailed, Range)

#: Headers a client may send; every other ``X-Storlet-*`` header is internal
#: and stripped from client requests at the proxy.
CLIENT_HEADER_PREFIXES = ('x-storlet-parameter',)
CLIENT_HEADERS = frozenset((
    'x-storlet-range', 'x-storlet-extra-resources', 'x-storlet-run-on-proxy',
    'x-storlet-generate-log', 'x-storlet-container-read', 'x-storlet-name',
))
#: Internal headers: storlet metadata the proxy attaches for the object
#: server, and markers the object server answers with.
INTERNAL_STORLET_META = ('Language', 'Main', 'Dependency', 'Language-Version',
                         'Interface-Version', 'Object-Metadata')
EXECUTED_HEADER = 'X-Storlet-Executed'
FAILURE_HEADER = 'X-Storlet-Failure'
STORLET_META_PREFIX = 'x-object-meta-storlet-'
USER_META_PREFIX = 'x-object-meta-'


def bad_request(body):
    return HTTPBadRequest(body=body, content_type='text/plain')


def is_client_header(name):
    lower = name.lower()
    return lower in CLIENT_HEADERS or lower.startswith(CLIENT_HEADER_PREFIXES)


def strip_internal_headers(headers):
    """Remove client-supplied internal ``X-Storlet-*`` headers (in place)."""
    for name in [h for h in headers.keys()
                 if h.lower().startswith('x-storlet-')
                 and not is_client_header(h)]:
        del headers[name]


def run_storlet_name(headers):
    """The ``X-Run-Storlet`` value, or None when absent; 400 when empty."""
    name = headers.get('X-Run-Storlet')
    if name is None:
        return None
    if not name.strip():
        raise bad_request('X-Run-Storlet header must name a storlet')
    return name


def check_run_on_proxy(headers):
    """True when ``X-Storlet-Run-On-Proxy`` is present (it must be empty)."""
    if 'X-Storlet-Run-On-Proxy' not in headers:
        return False
    if headers['X-Storlet-Run-On-Proxy'].strip():
        raise bad_request('X-Storlet-Run-On-Proxy header should be empty')
    return True


def parse_parameters(query_params, headers):
    """Build the storlet's parameter map (query first, headers win)."""
    params = dict(query_params)
    for name, value in headers.items():
        if not name.lower().startswith('x-storlet-parameter'):
            continue
        decoded = unquote(value)
        key, sep, val = decoded.partition(':')
        if not sep:
            raise bad_request(
                '%s header must have the form <key>:<value>' % name)
        params[key] = val
    for key in params:
        if key.lower().startswith('storlet_'):
            raise bad_request(
                'Parameter %s is reserved: parameter names starting with '
                '"storlet_" are for the system' % key)
    return params


def user_metadata(headers):
    """An object's user metadata, minus the reserved ``Storlet-*`` keys."""
    return {name[len(USER_META_PREFIX):]: value
            for name, value in headers.items()
            if name.lower().startswith(USER_META_PREFIX)
            and not name.lower().startswith(STORLET_META_PREFIX)}


def storlet_params(headers):
    """``X-Object-Meta-Storlet-*`` headers as {Title-Cased-Name: value}."""
    return {name[len(STORLET_META_PREFIX):].title(): value
            for name, value in headers.items()
            if name.lower().startswith(STORLET_META_PREFIX)}



def parse_storlet_range(headers):
    """The ``X-Storlet-Range`` as a swob ``Range``, None if absent, 400 if
    Swift would not accept it as a ``Range`` value."""
    value = headers.get('X-Storlet-Range')
    if value is None:
        return None
    try:
        return Range(value)
    except ValueError:
        raise bad_request('X-Storlet-Range header is invalid: %s' % value)


def parse_extra_resources(headers, max_extra):
    """``X-Storlet-Extra-Resources`` as [(container, object)], in order."""
    value = headers.get('X-Storlet-Extra-Resources')
    if value is None:
        return []
    items = [item.strip() for item in value.split(',') if item.strip()]
    if max_extra == 0:
        raise HTTPForbidden(body='Usage of extra resources is not allowed',
                            content_type='text/plain')
    if 0 < max_extra < len(items):
        raise bad_request('Too many extra resources. %d was requested but '
                          'only %d is allowed,' % (len(items), max_extra))
    malformed = bad_request('X-Storlet-Extra-Resource must be a csv '
                            'with/container/object format')
    if not items:
        raise malformed
    resources = []
    for item in items:
        container, _, obj = item.lstrip('/').partition('/')
        if not container or not obj:
            raise malformed
        resources.append((container, obj))
    return resources


def parse_copy_target(value, header):
    """``container/object`` (leading ``/`` optional) -> (container, obj)."""
    container, _, obj = unquote(value or '').lstrip('/').partition('/')
    if not container or not obj:
        raise HTTPPreconditionFailed(
            body='%s header must be of the form <container name>/<object '
                 'name>' % header, content_type='text/plain')
    return container, obj


def meta_headers(metadata):
    """Storlet output metadata -> object headers (``Content-Type`` direct)."""
    headers = {}
    for key, value in metadata.items():
        if key.lower() == 'content-type':
            headers['Content-Type'] = value
        elif not key.lower().startswith('storlet-'):
            headers['X-Object-Meta-%s' % key] = value
    return headers
