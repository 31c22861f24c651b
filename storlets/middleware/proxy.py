"""Proxy side: registration checks, storlet authorisation and GET flows.

Every storlet request is checked against the account's ``Storlet-Enabled``
flag. An invocation first HEADs the storlet object *as the requesting user*
(so read access to the storlet container is the right to run it), strips
every client-supplied internal ``X-Storlet-*`` header, attaches the
storlet's metadata for the object server, and forwards the GET. The object
server normally runs the storlet; when it declines (SLO, symlink, EC...) the
proxy runs it over the assembled response. The proxy strips
``X-Run-Storlet`` whenever it runs a storlet itself, so an object server can
never run it a second time.
"""
from urllib.parse import quote

from swift.common.http import is_success
from swift.common.swob import (
    HTTPMethodNotAllowed, HTTPServiceUnavailable, HTTPUnauthorized, Response)
from swift.common.utils import config_true_value
from swift.common.wsgi import make_subrequest
from swift.proxy.controllers.base import get_account_info

from storlets.errors import StorletError, StorletTimeout
from storlets.gateway.invocation import Invocation, StorletInput, StorletRef
from storlets.gateway.registration import RegistrationError, check_object_name
from storlets.middleware import request as parse
from storlets.middleware.response import STALE_HEADERS, apply_result

SWIFT_SOURCE = 'SH'
UNAUTHORIZED_STORLET = ('Failed to verify access to the storlet. Either the '
                        'storlet does not exist or you are not authorized to '
                        'run the storlet.')
FAILURE_BODIES = {'timeout': 'Storlet execution timed out',
                  'failed': 'Storlet execution failed'}


def _text(exc_class, body, **kwargs):
    return exc_class(body=body, content_type='text/plain', **kwargs)


class ProxyHandler:

    def __init__(self, app, config, gateway, code_source, logger):
        self.app = app
        self.config = config
        self.gateway = gateway
        self.code_source = code_source
        self.logger = logger

    # -- checks shared by every storlet request -----------------------------

    def check_account_enabled(self, req):
        info = get_account_info(req.environ, self.app,
                                swift_source=SWIFT_SOURCE)
        if not config_true_value(info.get('meta', {}).get('storlet-enabled')):
            raise parse.bad_request('Account disabled for storlets')

    # -- registration ----------------------------------------------------------

    def handle_registration(self, req, container, obj):
        self.check_account_enabled(req)
        params = parse.storlet_params(req.headers)
        try:
            if container == self.config.storlet_container:
                check_object_name(obj, 'Storlet')
                self.gateway.validate_storlet_registration(obj, params)
            else:
                check_object_name(obj, 'Dependency')
                self.gateway.validate_dependency_registration(obj, params)
        except RegistrationError as err:
            raise parse.bad_request(str(err))
        return req.get_response(self.app)

    # -- execution ---------------------------------------------------------------

    def handle_execution(self, req, account, storlet_name):
        self.check_account_enabled(req)
        try:
            check_object_name(storlet_name, 'Storlet')
        except RegistrationError as err:
            raise parse.bad_request(str(err))
        if req.method == 'GET':
            return self.handle_get(req, account, storlet_name)
        return HTTPMethodNotAllowed(request=req)

    def authorize_storlet(self, req, account, storlet_name):
        """HEAD the storlet object as the requesting user; its StorletRef."""
        path = '/v1/%s/%s/%s' % (account, self.config.storlet_container,
                                 storlet_name)
        sub = make_subrequest(req.environ, method='HEAD', path=quote(path),
                              headers={}, swift_source=SWIFT_SOURCE)
        resp = sub.get_response(self.app)
        _close(resp.app_iter)
        if not is_success(resp.status_int):
            raise _text(HTTPUnauthorized, UNAUTHORIZED_STORLET)
        meta = parse.storlet_params(resp.headers)
        headers = {'X-Storlet-%s' % k: v for k, v in meta.items()
                   if k in parse.INTERNAL_STORLET_META}
        headers['X-Storlet-Etag'] = resp.headers.get('Etag', '')
        headers['X-Storlet-X-Timestamp'] = resp.headers.get('X-Timestamp', '')
        return StorletRef.from_headers(storlet_name, headers), headers

    def handle_get(self, req, account, storlet_name):
        if 'Range' in req.headers:
            raise parse.bad_request(
                'Storlet execution with range header is not supported')
        run_on_proxy = (parse.check_run_on_proxy(req.headers)
                        or self.config.storlet_execute_on_proxy_only)
        params = parse.parse_parameters(req.params, req.headers)
        storlet, internal = self.authorize_storlet(req, account, storlet_name)
        parse.strip_internal_headers(req.headers)
        if run_on_proxy:
            del req.headers['X-Run-Storlet']
        else:
            req.headers.update(internal)
        resp = req.get_response(self.app)
        if not is_success(resp.status_int):
            return resp
        failure = resp.headers.pop(parse.FAILURE_HEADER, None)
        if failure:
            _close(resp.app_iter)
            return _text(HTTPServiceUnavailable,
                         FAILURE_BODIES.get(failure, FAILURE_BODIES['failed']))
        if resp.headers.get(parse.EXECUTED_HEADER):
            # Ran on an object server, which already rewrote the headers;
            # the proxy's object controller adds some of them back.
            for name in STALE_HEADERS:
                resp.headers.pop(name, None)
            return resp
        return self.run_on_proxy(req, account, storlet, params, resp)

    def run_on_proxy(self, req, account, storlet, params, resp):
        """Run the storlet here, over the (assembled) object response."""
        invocation = Invocation(
            account=account, storlet=storlet, params=params,
            inputs=[StorletInput(parse.user_metadata(resp.headers),
                                 body=resp.app_iter)])
        try:
            result = self.gateway.invoke(invocation, self.code_source)
        except StorletTimeout as err:
            self.logger.warning('storlet %s timed out: %s', storlet.name, err)
            _close(resp.app_iter)
            return _text(HTTPServiceUnavailable, FAILURE_BODIES['timeout'])
        except StorletError as err:
            self.logger.warning('storlet %s failed: %s', storlet.name, err)
            _close(resp.app_iter)
            return _text(HTTPServiceUnavailable, FAILURE_BODIES['failed'])
        out = Response(request=req, headers=dict(resp.headers))
        return apply_result(out, result, 'proxy')


def _close(app_iter):
    close = getattr(app_iter, 'close', None)
    if close:
        close()
