"""Pure parsing of storlet requests: headers and query in, values out.

No I/O here. Every function raises ``swob`` HTTP exceptions with the spec's
exact bodies, so handlers can call them and let the edge turn the exception
into a response.

Header and query values arrive as WSGI strings (the raw bytes, one char per
byte). Values that are text to us (storlet and object names, parameters,
copy targets, extra resources, ACL names) are decoded once, as strict UTF-8
(then percent-decoded, as strict UTF-8 too, where Swift would): anything
else is a ``400`` naming the header, never a 500 further on. Object user
metadata handed to a storlet is decoded the same way (``user_metadata``),
so a storlet sees the text a user set and, through ``output_headers``,
writes back the same bytes.
"""
from urllib.parse import unquote

from swift.common.swob import (
    HTTPBadRequest, HTTPForbidden, HTTPPreconditionFailed, Range,
    wsgi_to_bytes, wsgi_to_str)

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


def _text(value, what, quoted=False):
    """A WSGI string ``value`` as UTF-8 text (percent-decoded first when
    ``quoted``); 400 naming ``what`` when it is not."""
    try:
        text = wsgi_to_bytes(value).decode('utf-8')
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise bad_request('%s is not valid UTF-8' % what)
    if not quoted:
        return text
    try:
        return unquote(text, errors='strict')
    except UnicodeDecodeError:
        raise bad_request('%s is not valid UTF-8 after percent-decoding'
                          % what)


def header_text(headers, name, default=None, quoted=False):
    """The ``name`` header decoded as UTF-8 text, ``default`` if absent."""
    value = headers.get(name)
    if value is None:
        return default
    return _text(value, '%s header' % name, quoted)


def run_storlet_name(headers):
    """The ``X-Run-Storlet`` value (a WSGI string, as Swift passes names),
    or None when absent; 400 when empty or not UTF-8."""
    name = headers.get('X-Run-Storlet')
    if name is None:
        return None
    header_text(headers, 'X-Run-Storlet')
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
    """Build the storlet's parameter map (query first, headers win).

    ``query_params`` are swob's (WSGI strings, already percent-decoded);
    header values are percent-decoded here. Both as UTF-8 text.
    """
    params = {_text(key, 'Query parameter name'):
              _text(value, 'Query parameter %s' % wsgi_to_str(key))
              for key, value in query_params.items()}
    for name, value in headers.items():
        if not name.lower().startswith('x-storlet-parameter'):
            continue
        decoded = header_text(headers, name, quoted=True)
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
    """An object's user metadata, minus the reserved ``Storlet-*`` keys,
    as text (Swift's WSGI strings decoded from UTF-8, as Swift does)."""
    return {wsgi_to_str(name[len(USER_META_PREFIX):]): wsgi_to_str(value)
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
    header_text(headers, 'X-Storlet-Range')
    try:
        return Range(value)
    except ValueError:
        raise bad_request('X-Storlet-Range header is invalid: %s' % value)


def parse_extra_resources(headers, max_extra):
    """``X-Storlet-Extra-Resources`` as [(container, object)], in order.

    ``max_extra`` (the config's, 0 to the engine's cap) is checked here,
    before any fetch: it bounds the GETs one request causes. The same
    object may be named twice (or be the main object): it counts twice.
    """
    value = header_text(headers, 'X-Storlet-Extra-Resources')
    if value is None:
        return []
    items = [item.strip() for item in value.split(',') if item.strip()]
    if max_extra == 0:
        raise HTTPForbidden(body='Usage of extra resources is not allowed',
                            content_type='text/plain')
    if max_extra < len(items):
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
    """``container/object`` (leading ``/`` optional) -> (container, obj),
    as text; ``value`` is the WSGI string of ``header`` (percent-encoded,
    as Swift's copy middleware reads it)."""
    container, _, obj = _text(value or '', '%s header' % header,
                              quoted=True).lstrip('/').partition('/')
    if not container or not obj:
        raise HTTPPreconditionFailed(
            body='%s header must be of the form <container name>/<object '
                 'name>' % header, content_type='text/plain')
    return container, obj
