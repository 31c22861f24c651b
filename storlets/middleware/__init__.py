"""The ``storlet_handler`` WSGI filter: run user code on Swift objects.

A GET carrying ``X-Run-Storlet: <storlet object name>`` streams the object
through that storlet, inside the account's hardened Docker sandbox, next to
the data (on an object server) whenever possible.

Headers (client side)
---------------------
``X-Run-Storlet: <name>``
    Run the storlet ``<name>`` (an object of the storlet container).
``X-Storlet-Parameter-<anything>: <key>:<value>``
    A parameter for the storlet; query-string parameters work too, and the
    header wins. Keys starting with ``storlet_`` are reserved (400).
``X-Storlet-Run-On-Proxy:`` (empty)
    Run the storlet on the proxy instead of an object server.

Example::

    curl -H "X-Auth-Token: $TOKEN" -H "X-Run-Storlet: identity.py" \\
        http://127.0.0.1:8080/v1/AUTH_test/mycontainer/myobject

Registration
------------
Storlets are uploaded to the storlet container (default ``storlet``) with
``X-Object-Meta-Storlet-Language``, ``-Interface-Version``,
``-Object-Metadata`` and ``-Main``; dependencies to the dependency container
with ``X-Object-Meta-Storlet-Dependency-Version``. Invalid uploads get a
``400`` naming the problem and store nothing. ``Interface-Version`` must be
``1.0`` (published in /info), and each name in ``-Dependency`` must already
be readable by the uploader in the dependency container.

Only two writes can put an object into a code container, and both are
validated: a plain ``PUT`` of the code (with ``X-Run-Storlet`` the storlet
is *not* run: the upload is stored as sent), and a ``POST``, which replaces
all the object's metadata, so its headers must be a complete valid
registration. Every other way in is refused with ``400`` (body naming the
header and telling to upload instead), before anything is stored:

* copies: ``PUT`` with ``X-Copy-From`` (or ``-Account``), ``COPY`` whose
  ``Destination`` is a code container (with ``Destination-Account`` or
  not, with ``X-Run-Storlet`` or not). A copy stores the source's (or a
  storlet's) bytes and metadata, decided behind this filter, so it could
  not be validated exactly;
* manifests and links: ``?multipart-manifest`` (SLO), ``X-Object-Manifest``
  (DLO, also on ``POST``), ``X-Symlink-Target``: their content lives in
  other objects, which change without passing this check;
* versioning on a code container (``X-Versions-Location``,
  ``X-History-Location``, ``X-Versions-Enabled`` on a container ``PUT`` or
  ``POST``), and ``DELETE`` in one that already has stack-mode
  ``X-Versions-Location``: a restore copies an old object back unchecked.

Bulk ``?extract-archive`` into a code container is one validated ``PUT``
per file (``bulk`` sits before this filter); a refused file is listed with
its ``400`` in bulk's response. A symlink elsewhere pointing *into* the
storlet container is only a read alias (Swift authorises the target as the
user); running is by name in the storlet container only.
As a second line, an invocation checks the storlet object itself (its
``HEAD`` with ``?symlink=get``): a symlink, a manifest, or metadata that is
not a valid registration today is refused with ``400``, so nothing that
reached the container by a path this filter does not see ever runs.

Errors
------
* ``400 Account disabled for storlets``: the account lacks
  ``X-Account-Meta-Storlet-Enabled: true``.
* ``401``: the storlet does not exist or the user may not read it.
* ``400``: ``Range`` with ``X-Run-Storlet`` (use ``X-Storlet-Range``),
  malformed parameters, an empty ``X-Run-Storlet``; more
  ``X-Storlet-Extra-Resources`` than ``max_extra_resources`` (checked
  before any of them is read; a missing or forbidden one fails the request
  with its status, and none after it is read).
* ``503 Storlet execution failed`` / ``Storlet execution timed out``: the
  storlet failed before its first output byte. A failure after that aborts
  the (chunked) response: a client never sees a cut-off body as complete.

Deployment
----------
Proxy pipeline: after the auth middleware and immediately before ``copy``
(so before ``slo``, ``dlo``, ``versioned_writes`` and ``symlink``). Object
server pipeline: immediately before ``object-server``. Both with
``use = egg:storlets#storlet_handler`` and ``execution_server = proxy`` or
``object``; see ``etc/`` for every option. Swift's ``s3api`` goes before
the auth middleware; what the filter does for its requests is in
``storlets.middleware.s3``.
"""
import configparser
from urllib.parse import unquote, urlparse

from swift.common.registry import register_swift_info
from swift.common.swob import HTTPException, HTTPForbidden, Request
from swift.common.swob import wsgi_to_str, wsgi_unquote
from swift.common.utils import get_logger

from storlets import languages
from storlets.gateway import load_gateway
from storlets.gateway.registration import INTERFACE_VERSION
from storlets.middleware import s3
from storlets.middleware.code_source import SwiftCodeSource
from storlets.middleware.config import StorletConfig
from storlets.middleware.invocation_request import InvocationRequest
from storlets.middleware.object import ObjectHandler
from storlets.middleware.proxy import ProxyHandler

#: environ key marking a request that writes a storlet or dependency object
CODE_WRITE = 'storlets.code_write'


def read_gateway_conf(path):
    """The gateway config file: ``([DEFAULT] options, {section: options})``.

    A missing file gives empty dicts (every option takes its default).
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    defaults = dict(parser.defaults())
    sections = {name: {k: v for k, v in parser.items(name)
                       if k not in defaults or parser.get(name, k, raw=True)
                       != defaults[k]}
                for name in parser.sections()}
    return defaults, sections


def forged_storlet_referer(referer):
    """True for referrers that pretend to be a storlet ACL grant.

    The host is read exactly as Swift's referrer ACL check reads it
    (``urlparse(...).hostname``), so no spelling of a ``storlets.`` host
    (user info, port, case...) slips past this check and matches an entry.
    """
    if not referer:
        return False
    try:
        host = urlparse(referer).hostname or ''
    except ValueError:
        return True     # unparsable: Swift would not match it, refuse anyway
    naive = referer.split('//', 1)[-1].split('/', 1)[0].lower()
    return host.startswith('storlets.') or naive.startswith('storlets.')


def code_write_target(req, container, obj, code_containers):
    """``(container, object)`` when ``req`` writes an object into a code
    container (PUT, POST, or a COPY whose ``Destination`` is one), else
    None. The object is None for a COPY naming no destination object."""
    if req.method in ('PUT', 'POST'):
        if obj and container in code_containers:
            return container, obj
        return None
    if req.method == 'COPY' and obj and 'Destination' in req.headers:
        # read as Swift's copy middleware reads it
        dest = wsgi_to_str(wsgi_unquote(req.headers['Destination']))
        dest_container, _, dest_obj = dest.lstrip('/').partition('/')
        if dest_container in code_containers:
            return dest_container, dest_obj or None
    return None


class StorletMiddleware:

    def __init__(self, app, config, gateway, code_source=None, logger=None):
        self.app = app
        self.config = config
        self.gateway = gateway
        self.logger = logger or get_logger({}, log_route='storlet_handler')
        handler_class = (ProxyHandler if config.execution_server == 'proxy'
                         else ObjectHandler)
        self.handler = handler_class(app, config, gateway, code_source,
                                     self.logger)

    def __call__(self, env, start_response):
        req = Request(env)
        from_s3 = self.config.execution_server == 'proxy' and \
            s3.from_s3api(env)
        if from_s3:
            s3.strip_copy_source_check(req)
        try:
            resp = self.route(req)
            if resp is None and CODE_WRITE in env:
                resp = req.get_response(self.app)
        except HTTPException as err:
            resp = err
        if CODE_WRITE in env:
            # again once the write is done: a concurrent invocation may have
            # cached the old version meanwhile
            self.handler.forget_code(req, *env.pop(CODE_WRITE))
        if resp is None:
            return self.app(env, start_response)
        s3_error = s3.error_for(req, resp) if from_s3 else None
        if s3_error is not None:
            raise s3_error      # s3api answers it as an S3 XML error
        return resp(env, start_response)

    def route(self, req):
        """The handler's response, or None when the request is not ours."""
        if self.config.execution_server == 'object':
            return self.route_object(req)
        try:
            _ver, account, container, obj = (
                wsgi_to_str(p) if p else p
                for p in req.split_path(2, 4, True))
        except ValueError:
            return None
        if container is None:
            # Account level: only a misdirected storlet ACL update is ours.
            if req.method == 'POST' and \
                    'X-Storlet-Container-Read' in req.headers:
                return self.handler.handle_acl(req, account, None)
            return None
        if forged_storlet_referer(req.headers.get('Referer', '')):
            return HTTPForbidden(
                body='Referrer containing storlets is not allowed',
                content_type='text/plain')
        code_containers = (self.config.storlet_container,
                           self.config.storlet_dependency)
        self.forget_changed_code(req, account, container, obj,
                                 code_containers)
        target = code_write_target(req, container, obj, code_containers)
        if target is not None:
            return self.handler.handle_registration(req, account, *target)
        if container in code_containers and (
                req.method in ('PUT', 'POST') or
                (obj and req.method == 'DELETE')):
            self.handler.check_code_container(req, container, obj)
        if not obj and req.method == 'POST' and \
                'X-Storlet-Container-Read' in req.headers:
            return self.handler.handle_acl(req, account, container)
        if not obj:
            return None
        invocation = InvocationRequest.parse(
            req, container, obj, self.config.max_extra_resources)
        if invocation is None:
            return None
        return self.handler.handle_execution(req, account, container, obj,
                                             invocation)

    def forget_changed_code(self, req, account, container, obj,
                            code_containers):
        """Any write to a storlet or dependency object (or a COPY onto one)
        drops the proxy's cached facts about it."""
        if req.method in ('GET', 'HEAD', 'OPTIONS'):
            return
        targets = [(container, obj)]
        if req.method == 'COPY' and req.headers.get('Destination'):
            dest = unquote(req.headers['Destination']).lstrip('/')
            targets.append(tuple(dest.partition('/')[::2]))
        for target_container, target_obj in targets:
            if target_obj and target_container in code_containers:
                self.handler.forget_code(req, account, target_container,
                                         target_obj)
                req.environ[CODE_WRITE] = (account, target_container,
                                           target_obj)

    def route_object(self, req):
        try:
            # object server paths: /device/partition/account/container/obj
            _dev, _part, account, container, obj = req.split_path(
                5, 5, True)
        except ValueError:
            return None
        invocation = InvocationRequest.parse(
            req, wsgi_to_str(container), wsgi_to_str(obj),
            self.config.max_extra_resources, client=False)
        if invocation is None:
            return None
        return self.handler.handle(req, wsgi_to_str(account), invocation)


def filter_factory(global_conf, **local_conf):
    conf = dict(global_conf, **local_conf)
    config = StorletConfig.from_conf(conf)
    gateway_class = load_gateway(config.storlet_gateway_module)
    logger = get_logger(conf, log_route='storlet_handler')
    defaults, sections = read_gateway_conf(config.storlet_gateway_conf)
    gateway = gateway_class(defaults, logger, sections=sections)
    code_source = SwiftCodeSource(
        config.internal_client_conf_path,
        {'storlet': config.storlet_container,
         'dependency': config.storlet_dependency}, logger)
    register_swift_info(
        'storlet_handler', False,
        storlet_container=config.storlet_container,
        storlet_dependency=config.storlet_dependency,
        storlet_logcontainer=config.storlet_logcontainer,
        storlet_gateway_class=gateway_class.__name__,
        max_extra_resources=config.max_extra_resources,
        languages=list(languages.LANGUAGES),
        interface_version=INTERFACE_VERSION)

    def storlet_filter(app):
        return StorletMiddleware(app, config, gateway, code_source, logger)
    return storlet_filter
