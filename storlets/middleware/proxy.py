"""Proxy side: checks, storlet authorisation, and the GET / PUT / copy flows.

The filter hands each invocation over as an ``InvocationRequest`` (parsed,
every 4xx of the API already raised). Every storlet request is checked
against the account's ``Storlet-Enabled`` flag. An invocation first HEADs
the storlet object *as the requesting user* (read access to the storlet
container is the right to run it), strips every client-supplied internal
``X-Storlet-*`` header and attaches the storlet's metadata for the object
server.

Where it runs is ``placement.place``'s decision: a GET goes to an object
server, which runs the storlet next to the data unless it declines; then
the proxy runs it over the assembled response. When the proxy runs it from
the start, it strips ``X-Run-Storlet`` from the backend request so that no
object server can run it a second time. A copy is a storlet GET of the
source (as the user, through the same flow) whose output is PUT to the
destination.
"""
from typing import Dict, Optional, Tuple
from urllib.parse import quote

from swift.common.header_key_dict import HeaderKeyDict
from swift.common.http import is_success
from swift.common.swob import (
    HTTPException, HTTPRequestedRangeNotSatisfiable, HTTPUnauthorized,
    Request, Response, wsgi_to_str)
from swift.common.storage_policy import POLICIES
from swift.common.utils import config_true_value
from swift.common.wsgi import make_pre_authed_request, make_subrequest
from swift.proxy.controllers.base import (
    get_account_info, get_container_info)

from storlets.errors import StorletError
from storlets.gateway.invocation import Invocation, StorletInput, StorletRef
from storlets.gateway import registration
from storlets.gateway.registration import RegistrationError, check_object_name
from storlets.middleware import acl, code_info
from storlets.middleware import request as parse
from storlets.middleware.framing import FRAMED_HEADER, Unframe
from storlets.middleware.handler import Handler
from storlets.middleware.invocation_request import (
    COPY, GET, InvocationRequest)
from storlets.middleware.metrics import InvocationMetrics
from storlets.middleware.placement import (
    DECLINED, PROXY, Placement, place)
from storlets.middleware.response import (
    STALE_HEADERS, apply_result, failure_response, output_headers, wrap_body)
from storlets.middleware.streams import (
    InputReader, OutputReader, Prefetched, close, slice_stream)

SWIFT_SOURCE = 'SH'
#: Output read before a GET response starts: a storlet failing within it
#: gets a clean 503 instead of a broken transfer.
PREFETCH_BYTES = 65536
UNAUTHORIZED_STORLET = ('Failed to verify access to the storlet. Either the '
                        'storlet does not exist or you are not authorized to '
                        'run the storlet.')
#: Headers dropped from a PUT whose body a storlet rewrote.
PUT_DROP_HEADERS = ('Content-Length', 'Etag', 'X-Copy-From', 'Destination',
                    'Content-Encoding', 'Transfer-Encoding', 'X-Run-Storlet')


def text(exc_class, body, **kwargs):
    return exc_class(body=body, content_type='text/plain', **kwargs)


def storlet_failure(err, put=False):
    return failure_response(err.failure_kind, put)


class ProxyHandler(Handler):

    # -- checks shared by every storlet request -------------------------------

    def check_account_enabled(self, req: Request) -> None:
        info = get_account_info(req.environ, self.app,
                                swift_source=SWIFT_SOURCE)
        if not config_true_value(info.get('meta', {}).get('storlet-enabled')):
            raise parse.bad_request('Account disabled for storlets')

    # -- registration and ACLs ------------------------------------------------

    def handle_registration(self, req: Request, account: str,
                            container: str, obj: str) -> Response:
        """A write of ``obj`` into the code container ``container``: a
        plain upload (PUT) or metadata update (POST) whose headers are a
        valid registration, and nothing else (copies, manifests, symlinks
        are refused: see the filter's docstring). 400 stores nothing."""
        try:
            registration.check_code_write(req.method, req.headers,
                                          req.params, container)
        except RegistrationError as err:
            raise parse.bad_request(str(err))
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
        if container == self.config.storlet_container:
            self._check_dependencies_exist(req, account, params)
        return req.get_response(self.app)

    def _check_dependencies_exist(self, req, account, params):
        """400 unless the user can HEAD each declared dependency."""
        container = self.config.storlet_dependency
        for dep in registration.dependency_names(
                params.get('Dependency', '')):
            dep = wsgi_to_str(dep)
            head = make_subrequest(
                req.environ, method='HEAD',
                path=quote('/v1/%s/%s/%s' % (account, container, dep)),
                headers={}, swift_source=SWIFT_SOURCE)
            resp = head.get_response(self.app)
            close(resp.app_iter)
            if not is_success(resp.status_int):
                raise parse.bad_request(
                    'Dependency %s cannot be read from the %s container (%s)'
                    '; upload it first' % (dep, container, resp.status))

    def check_code_container(self, req: Request, container: str,
                             obj: Optional[str]) -> None:
        """Refuse what would let objects land in a code container behind
        this filter: turning versioning on (container PUT/POST), or a
        DELETE that a stack-mode versioned container answers by copying an
        old version back."""
        try:
            if obj is None:
                registration.check_container_write(req.headers, container)
                return
            info = get_container_info(req.environ, self.app,
                                      swift_source=SWIFT_SOURCE)
            sysmeta = info.get('sysmeta', {})
            if sysmeta.get('versions-location') and \
                    sysmeta.get('versions-mode') != 'history':
                raise RegistrationError(
                    'Cannot delete from the %s container while it has '
                    'X-Versions-Location: the restore would store code that '
                    'was never validated; remove it first' % container)
        except RegistrationError as err:
            raise parse.bad_request(str(err))

    def handle_acl(self, req: Request, account: str,
                   container: Optional[str]) -> Response:
        self.check_account_enabled(req)
        if container is None:
            raise parse.bad_request(
                'storlet ACL update must be sent to a container')
        if container in (self.config.storlet_container,
                         self.config.storlet_dependency):
            raise parse.bad_request(
                'storlet ACL update cannot be a storlet container')
        for name in ('X-Storlet-Container-Read', 'X-Storlet-Name'):
            parse.header_text(req.headers, name)    # 400 unless UTF-8
        user = req.headers.get('X-Storlet-Container-Read', '').strip()
        storlet = req.headers.get('X-Storlet-Name', '').strip()
        problem = acl.validate_acl_request(user, storlet)
        if problem:
            raise parse.bad_request(problem)
        head = make_subrequest(
            req.environ, method='HEAD',
            path=quote('/v1/%s/%s' % (account, container)), headers={},
            swift_source=SWIFT_SOURCE)
        resp = head.get_response(self.app)
        close(resp.app_iter)
        if resp.status_int != 204:
            raise text(HTTPUnauthorized,
                       'Unauthorized to get or modify the container ACL')
        del req.headers['X-Storlet-Container-Read']
        del req.headers['X-Storlet-Name']
        req.headers['X-Container-Read'] = acl.add_entry(
            resp.headers.get('X-Container-Read'), user, storlet)
        return req.get_response(self.app)

    # -- execution ------------------------------------------------------------

    def handle_execution(self, req: Request, account: str, container: str,
                         obj: str, invocation: InvocationRequest
                         ) -> Response:
        """Run ``invocation`` (the request's ``InvocationRequest``)."""
        self.check_account_enabled(req)
        if invocation.kind == GET:
            return self.handle_get(req, account, container, obj, invocation)
        if invocation.kind == COPY:
            return self.handle_copy(req, account, invocation)
        return self.handle_put(req, account, invocation)

    def authorize_storlet(self, req: Request, account: str,
                          storlet_name: str
                          ) -> Tuple[StorletRef, Dict[str, str]]:
        """Check the user may run the storlet; return what describes it.

        Returns its ``StorletRef`` and the internal headers that carry the
        same facts to an object server. 401 if the user may not read the
        storlet object or it does not exist (indistinguishable on purpose).
        """
        container = self.config.storlet_container
        facts = None
        if code_info.may_read(req, self.app, account, container,
                              storlet_name):
            facts = code_info.object_facts(req, self.app, account, container,
                                           storlet_name)
        if not facts:
            raise text(HTTPUnauthorized, UNAUTHORIZED_STORLET)
        meta = parse.storlet_params(facts)
        self._check_registered(storlet_name, facts, meta)
        headers = {'X-Storlet-%s' % k: v for k, v in meta.items()
                   if k in parse.INTERNAL_STORLET_META}
        headers['X-Storlet-Etag'] = facts.get('etag', '')
        headers['X-Storlet-X-Timestamp'] = facts.get('x-timestamp', '')
        deps = [d for d in meta.get('Dependency', '').split(',') if d]
        if deps:
            headers['X-Storlet-Dependency-Versions'] = ','.join(
                self._dependency_version(req, account, dep) for dep in deps)
        return StorletRef.from_headers(storlet_name, headers), headers

    def _check_registered(self, storlet_name, facts, meta):
        """400 unless the storlet object is a plain object whose metadata
        is a valid registration now: whatever landed in the storlet
        container by a path this filter does not see never runs."""
        indirect = [h for h in ('x-symlink-target', 'x-object-manifest')
                    if facts.get(h)]
        if config_true_value(facts.get('x-static-large-object')):
            indirect.append('x-static-large-object')
        try:
            if indirect:
                raise RegistrationError(
                    'it is a %s, not a plain upload' % indirect[0])
            self.gateway.validate_storlet_registration(storlet_name, meta)
        except RegistrationError as err:
            raise parse.bad_request(
                'Storlet %s is not validly registered: %s; upload it again'
                % (storlet_name, err))

    def _dependency_version(self, req, account, dep):
        # Code is fetched by the engine, not as the user; the version only
        # makes a changed dependency land in a new cache directory.
        facts = code_info.object_facts(
            req, self.app, account, self.config.storlet_dependency, dep) or {}
        return '%s@%s' % (facts.get('etag', ''), facts.get('x-timestamp', ''))

    def forget_code(self, req: Request, account: str, container: str,
                    obj: str) -> None:
        """Called for every request that may change a code object."""
        code_info.forget(req.environ, account, container, obj)

    def placement(self, req: Request, container: str,
                  invocation: InvocationRequest) -> Placement:
        """Where the storlet runs, decided from the request alone."""
        proxy_only = self.config.storlet_execute_on_proxy_only
        decided = place(invocation, proxy_only)
        if decided.on_proxy:
            return decided
        return place(invocation, proxy_only,
                     erasure_coded=self._erasure_coded(req, container))

    def _erasure_coded(self, req, container):
        # Object servers of an EC policy hold fragments: run on the proxy.
        info = get_container_info(req.environ, self.app,
                                  swift_source=SWIFT_SOURCE)
        policy = self._policy_type(info.get('storage_policy'))
        return policy == 'erasure_coding'

    @staticmethod
    def _policy_type(index):
        policy = POLICIES.get_by_index(index)
        return policy.policy_type if policy else None

    # -- GET ------------------------------------------------------------------

    def handle_get(self, req, account, container, obj, invocation,
                   copy_source=False):
        """A storlet GET; ``copy_source`` for the source read of a copy
        (no storlet-ACL retry, and failures answered as for a PUT)."""
        placement = self.placement(req, container, invocation)
        storlet, internal = self.authorize_storlet(req, account,
                                                   invocation.storlet)
        parse.strip_internal_headers(req.headers)
        if placement.on_proxy:
            del req.headers['X-Run-Storlet']
            if invocation.storlet_range is not None:
                req.headers['Range'] = req.headers['X-Storlet-Range']
        else:
            req.headers.update(internal)
        if copy_source:
            resp = req.get_response(self.app)
        else:
            resp = self._get_with_storlet_acl(req, account,
                                              invocation.storlet)
        if not is_success(resp.status_int):
            return resp
        failure = resp.headers.pop(parse.FAILURE_HEADER, None)
        if failure:
            close(resp.app_iter)
            return failure_response(failure, put=copy_source)
        if resp.headers.get(parse.EXECUTED_HEADER):
            # Ran on an object server, which already rewrote the headers;
            # the proxy's object controller adds some of them back.
            for name in STALE_HEADERS:
                resp.headers.pop(name, None)
            if resp.headers.pop(FRAMED_HEADER, None):
                try:
                    resp = wrap_body(resp, lambda body: Prefetched(
                        Unframe(body), PREFETCH_BYTES))
                except StorletError as err:
                    return storlet_failure(err, put=copy_source)
            return resp
        if not placement.on_proxy:
            # an object server declined (SLO, DLO, encrypted...)
            placement = Placement(PROXY, DECLINED)
        body, input_range = resp.app_iter, None
        if resp.status_int == 206:
            input_range = resp.headers.get('Content-Range')
        elif invocation.storlet_range is not None:
            # The assembled object came back whole: apply the range here.
            body, input_range = self._slice(resp, invocation.storlet_range)
        inputs = [StorletInput(parse.user_metadata(resp.headers),
                               body=body)]
        try:
            inputs += self.fetch_extra_resources(
                req, account, invocation.extra_resources)
        except BaseException:
            close(resp.app_iter)
            raise
        try:
            result = self.invoke(req, account, storlet, invocation, inputs,
                                 placement)
            headers = self.output_headers(result, storlet.name)
            try:
                result.body = Prefetched(result.body, PREFETCH_BYTES)
            except StorletError:
                close(result.body)
                raise
        except StorletError as err:
            return storlet_failure(err, put=copy_source)
        out = Response(request=req, headers=dict(resp.headers))
        return apply_result(out, result, headers, 'proxy', input_range)

    @staticmethod
    def _slice(resp, storlet_range):
        size = resp.content_length
        ranges = storlet_range.ranges_for_length(size) \
            if size is not None else None
        if not ranges or len(ranges) > 1:
            close(resp.app_iter)
            raise HTTPRequestedRangeNotSatisfiable(
                body='X-Storlet-Range cannot be applied to this object',
                content_type='text/plain')
        (start, end), = ranges
        return (slice_stream(resp.app_iter, start, end),
                'bytes %d-%d/%d' % (start, end - 1, size))

    def _get_with_storlet_acl(self, req, account, storlet_name):
        """The GET's response; on 403 retry once if a storlet ACL allows."""
        resp = req.get_response(self.app)
        if resp.status_int != 403:
            return resp
        names = acl.user_names(req.environ, account)
        if not names:
            close(resp.app_iter)
            raise text(HTTPUnauthorized, 'User is not authorized')
        info = get_container_info(req.environ, self.app,
                                  swift_source=SWIFT_SOURCE)
        if not acl.grants(info.get('read_acl'), names, storlet_name):
            return resp
        close(resp.app_iter)
        # Pre-authorised on purpose: the container's storlet ACL names this
        # user and this storlet, and the request still carries the storlet,
        # so the data only leaves through it.
        retry = make_pre_authed_request(
            req.environ, method="GET", path=req.path,
            headers=dict(req.headers), swift_source=SWIFT_SOURCE)
        retry.query_string = req.query_string
        return retry.get_response(self.app)

    # -- inputs and invocation ------------------------------------------------

    def fetch_extra_resources(self, req, account, extras):
        """GET each extra resource as the user; fail on the first error."""
        inputs = []
        try:
            for container, obj in extras:
                path = '/v1/%s/%s/%s' % (account, container, obj)
                sub = make_subrequest(req.environ, method='GET',
                                      path=quote(path), headers={},
                                      swift_source=SWIFT_SOURCE)
                resp = sub.get_response(self.app)
                if not is_success(resp.status_int):
                    close(resp.app_iter)
                    raise HTTPException(
                        status=resp.status_int, content_type='text/plain',
                        body='Extra resource %s/%s: %s' % (
                            container, obj, resp.status))
                inputs.append(StorletInput(parse.user_metadata(resp.headers),
                                           body=resp.app_iter))
        except BaseException:
            for inp in inputs:
                close(inp.body)
            raise
        return inputs

    def invoke(self, req, account, storlet, invocation, inputs, placement):
        """Run the storlet on this proxy; close the inputs if it fails."""
        call = Invocation(
            account=account, storlet=storlet, params=dict(invocation.params),
            inputs=inputs, on_log=self.code_source.log_uploader(
                req.headers, account, self.config.storlet_logcontainer,
                storlet.name))
        metrics = InvocationMetrics(self.logger, storlet.name, placement)
        try:
            result = self.gateway.invoke(call, self.code_source)
        except StorletError as err:
            metrics.failed(err)
            self.logger.warning('storlet %s failed: %s', storlet.name, err)
            for inp in inputs:
                close(inp.body)
            raise
        result.body = metrics.started_output(result)
        return result

    def output_headers(self, result, storlet_name):
        """The result's ``output_headers``; a refusal ends the call (its
        body is closed), is logged with the reason and raised."""
        try:
            return output_headers(result.metadata)
        except StorletError as err:
            close(result.body)
            self.logger.warning('storlet %s failed: %s', storlet_name, err)
            raise

    # -- PUT ------------------------------------------------------------------

    def handle_put(self, req, account, invocation):
        storlet, _internal = self.authorize_storlet(req, account,
                                                    invocation.storlet)
        body = InputReader(req.environ['wsgi.input'], req.content_length)
        inputs = [StorletInput(parse.user_metadata(req.headers), body=body)]
        inputs += self.fetch_extra_resources(req, account,
                                             invocation.extra_resources)
        try:
            result = self.invoke(
                req, account, storlet, invocation, inputs,
                place(invocation, self.config.storlet_execute_on_proxy_only))
            output = self.output_headers(result, storlet.name)
        except StorletError as err:
            return storlet_failure(err, put=True)
        headers = self._put_headers(req.headers, output)
        return self._put_output(req, req.path, headers, result)

    def _put_headers(self, client_headers, meta):
        """The client's PUT headers with ``meta`` (the storlet's checked
        output headers, or a copy's source metadata) layered on top."""
        headers = HeaderKeyDict(
            (k, v) for k, v in client_headers.items()
            if not k.lower().startswith(('x-storlet-',
                                         parse.STORLET_META_PREFIX))
            and k not in PUT_DROP_HEADERS)
        headers.update(meta)
        return headers

    def _put_output(self, req, path, headers, result):
        """PUT the storlet's output (chunked) to ``path``; nothing is stored
        if the storlet fails before its last byte."""
        reader = OutputReader(result.body)
        headers['Transfer-Encoding'] = 'chunked'
        put = make_subrequest(req.environ, method='PUT', path=path,
                              headers=headers, swift_source=SWIFT_SOURCE)
        put.environ['wsgi.input'] = reader
        put.environ.pop('CONTENT_LENGTH', None)
        try:
            resp = put.get_response(self.app)
        except Exception:
            if reader.error is None:
                raise
            resp = None
        finally:
            close(result.body)
        if reader.error is not None:
            if resp is not None:
                close(resp.app_iter)
            return storlet_failure(reader.error, put=True)
        return resp

    # -- copy -----------------------------------------------------------------

    def handle_copy(self, req, account, invocation):
        (src_container, src_obj), destination = (invocation.copy.source,
                                                 invocation.copy.destination)
        params_source = dict(req.headers)
        for name in ('X-Copy-From', 'Destination', 'Content-Length', 'Etag'):
            params_source.pop(name, None)
        src_path = '/v1/%s/%s/%s' % (account, src_container, src_obj)
        get = make_subrequest(req.environ, method='GET', path=quote(src_path),
                              headers=params_source,
                              swift_source=SWIFT_SOURCE)
        get.query_string = req.query_string
        get.headers.pop('X-Backend-Storage-Policy-Index', None)
        resp = self.handle_get(get, account, src_container, src_obj,
                               invocation, copy_source=True)
        if not is_success(resp.status_int):
            return resp
        source_meta = {k: v for k, v in resp.headers.items()
                       if k.lower().startswith(parse.USER_META_PREFIX)
                       or k.lower() in ('content-type', 'x-delete-at')}
        headers = self._put_headers(req.headers, source_meta)
        result_like = _ResponseResult(resp)
        dest_path = quote('/v1/%s/%s/%s' % ((account,) + tuple(destination)))
        out = self._put_output(req, dest_path, headers, result_like)
        if is_success(out.status_int):
            out.headers['X-Storlet-Generated-From-Account'] = quote(account)
            out.headers['X-Storlet-Generated-From'] = quote(
                '%s/%s' % (src_container, src_obj))
            if resp.headers.get('Last-Modified'):
                out.headers['X-Storlet-Generated-From-Last-Modified'] = \
                    resp.headers['Last-Modified']
        return out


class _ResponseResult:
    """Adapts a storlet GET response to the (metadata, body) of a result."""

    def __init__(self, resp):
        self.metadata = {}
        self.body = resp.app_iter
