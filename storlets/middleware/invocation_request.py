"""One storlet invocation as the client asked for it, parsed once.

The filter builds an ``InvocationRequest`` when it routes a request that
carries ``X-Run-Storlet``; the proxy and object handlers receive it and never
read an invocation header themselves. Every ``4xx`` of the invocation API
comes from ``InvocationRequest.parse`` (swob HTTP exceptions whose bodies are
the API's, see ``docs/api.md``), before anything is read or run.

Invocation headers (client side)
--------------------------------
``X-Run-Storlet: <name>``
    The storlet to run (an object of the storlet container). ``storlets``
    is a tuple: one name today, a pipeline's stages later.
``X-Storlet-Parameter-<anything>: <key>:<value>`` and the query string
    The storlet's parameters (header wins; ``storlet_*`` keys reserved).
``X-Storlet-Range: bytes=<first>-<last>``
    The input window (``Range`` itself is refused with a storlet).
``X-Storlet-Extra-Resources: <container>/<object>[,...]``
    More inputs, at most ``max_extra_resources``.
``X-Storlet-Run-On-Proxy:`` (empty)
    Run on the proxy rather than next to the data.
``X-Storlet-Generate-Log: true``
    Keep the storlet's log in the log container (read by the code source).
``X-Copy-From`` (PUT) / ``Destination`` (COPY)
    A copy through the storlet: its source GET runs it, the output is PUT.

Adding a header: one field here, its parse step in ``parse`` and its name in
``CLIENT_HEADERS`` (what the proxy does not strip as internal).
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from swift.common.swob import (
    HTTPMethodNotAllowed, HTTPPreconditionFailed, Range, Request,
    wsgi_to_str)

from storlets.gateway.registration import RegistrationError, check_object_name
from storlets.middleware import request as parse

#: What a client may do with a storlet, by request.
GET, PUT, COPY = 'get', 'put', 'copy'
#: Copy headers a storlet copy does not support (400).
UNSUPPORTED_COPY_HEADERS = ('X-Copy-From-Account', 'Destination-Account',
                            'X-Fresh-Metadata')


@dataclass(frozen=True)
class CopyTarget:
    """A storlet copy: its source (as a GET of it would read) and where the
    output goes, each ``(container, object)`` as text."""
    source: Tuple[str, str]
    destination: Tuple[str, str]


@dataclass(frozen=True)
class InvocationRequest:
    """What one request asks a storlet to do (see the module doc)."""
    kind: str                               # GET, PUT or COPY
    storlets: Tuple[str, ...]               # names, as text
    params: Mapping[str, str] = field(default_factory=dict)
    storlet_range: Optional[Range] = None   # X-Storlet-Range
    extra_resources: Tuple[Tuple[str, str], ...] = ()
    run_on_proxy: bool = False
    copy: Optional[CopyTarget] = None

    @property
    def storlet(self) -> str:
        """The storlet to run (the first stage)."""
        return self.storlets[0]

    @property
    def multi_range(self) -> bool:
        return self.storlet_range is not None and \
            len(self.storlet_range.ranges) > 1

    @classmethod
    def parse(cls, req: Request, container: str, obj: str,
              max_extra_resources: int,
              client: bool = True) -> Optional['InvocationRequest']:
        """The invocation ``req`` asks for, None if it names no storlet.

        ``container``/``obj`` are the request path's (text); ``client`` is
        False on an object server, which reads the proxy's backend request
        (there a ``Range`` is Swift's own and is checked by the handler).
        """
        name = parse.run_storlet_name(req.headers)
        if name is None:
            return None
        name = wsgi_to_str(name)
        try:
            check_object_name(name, 'Storlet')
        except RegistrationError as err:
            raise parse.bad_request(str(err))
        kind, copy = cls._kind_and_copy(req, container, obj)
        storlet_range = None
        if kind != PUT:
            if client and 'Range' in req.headers:
                raise parse.bad_request(
                    'Storlet execution with range header is not supported')
            storlet_range = parse.parse_storlet_range(req.headers)
        params = parse.parse_parameters(req.params, req.headers)
        extras = parse.parse_extra_resources(req.headers, max_extra_resources)
        return cls(kind=kind, storlets=(name,), params=params,
                   storlet_range=storlet_range,
                   extra_resources=tuple(extras),
                   run_on_proxy=parse.check_run_on_proxy(req.headers),
                   copy=copy)

    @staticmethod
    def _kind_and_copy(req, container, obj):
        if req.method == 'GET':
            return GET, None
        if req.method == 'PUT' and 'X-Copy-From' not in req.headers:
            return PUT, None
        if req.method not in ('PUT', 'COPY'):
            raise HTTPMethodNotAllowed(request=req)
        if req.method == 'COPY' and not req.headers.get('Destination'):
            raise HTTPPreconditionFailed(body='Destination header required',
                                         content_type='text/plain')
        for header in UNSUPPORTED_COPY_HEADERS:
            if header in req.headers:
                raise parse.bad_request(
                    'Storlet on copy with %s is not supported' % header)
        if req.method == 'PUT':
            source = parse.parse_copy_target(req.headers['X-Copy-From'],
                                             'X-Copy-From')
            return COPY, CopyTarget(source, (container, obj))
        destination = parse.parse_copy_target(req.headers['Destination'],
                                              'Destination')
        return COPY, CopyTarget((container, obj), destination)
