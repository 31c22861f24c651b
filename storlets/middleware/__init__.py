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
``400`` naming the problem and store nothing.

Errors
------
* ``400 Account disabled for storlets``: the account lacks
  ``X-Account-Meta-Storlet-Enabled: true``.
* ``401``: the storlet does not exist or the user may not read it.
* ``400``: ``Range`` with ``X-Run-Storlet`` (use ``X-Storlet-Range``),
  malformed parameters, an empty ``X-Run-Storlet``.
* ``503 Storlet execution failed`` / ``Storlet execution timed out``: the
  storlet failed before its first output byte. A failure after that aborts
  the (chunked) response: a client never sees a cut-off body as complete.

Deployment
----------
Proxy pipeline: after the auth middleware and immediately before ``copy``
(so before ``slo``, ``dlo``, ``versioned_writes`` and ``symlink``). Object
server pipeline: immediately before ``object-server``. Both with
``use = egg:storlets#storlet_handler`` and ``execution_server = proxy`` or
``object``; see ``etc/`` for every option.
"""
import configparser
from urllib.parse import unquote, urlparse

from swift.common.registry import register_swift_info
from swift.common.swob import HTTPException, HTTPForbidden, Request
from swift.common.swob import wsgi_to_str
from swift.common.utils import get_logger

from storlets.gateway import load_gateway
from storlets.gateway.registration import SUPPORTED_LANGUAGES
from storlets.middleware import request as parse
from storlets.middleware.code_source import SwiftCodeSource
from storlets.middleware.config import StorletConfig
from storlets.middleware.object import ObjectHandler
from storlets.middleware.proxy import ProxyHandler

INTERFACE_VERSION = '1.0'
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
        if obj and req.method in ('PUT', 'POST') and \
                container in code_containers:
            return self.handler.handle_registration(req, container, obj)
        if not obj and req.method == 'POST' and \
                'X-Storlet-Container-Read' in req.headers:
            return self.handler.handle_acl(req, account, container)
        storlet = parse.run_storlet_name(req.headers)
        if storlet is not None and obj:
            return self.handler.handle_execution(
                req, account, container, obj, wsgi_to_str(storlet))
        return None

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
            _dev, _part, account, _cont, _obj = req.split_path(5, 5, True)
        except ValueError:
            return None
        storlet = parse.run_storlet_name(req.headers)
        if storlet is None:
            return None
        return self.handler.handle(req, wsgi_to_str(account),
                                   wsgi_to_str(storlet))


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
        languages=list(SUPPORTED_LANGUAGES),
        interface_version=INTERFACE_VERSION)

    def storlet_filter(app):
        return StorletMiddleware(app, config, gateway, code_source, logger)
    return storlet_filter
