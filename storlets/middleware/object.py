"""Object-server side: run a storlet next to the data.

For a GET carrying ``X-Run-Storlet`` (and the storlet metadata the proxy
attached), the object server's own response is obtained first, so Swift
does every check (existence, conditionals, expiry). Its open data file is then
handed to the gateway, which splices the requested bytes of it into the
sandbox's input pipe (storlets/gateway/execution.py: the sandbox never gets
the file itself): the object's bytes never pass through this process's
memory. The handler declines (returns the raw object, unmarked) when
``placement.place`` says the storlet runs on the proxy (manifests,
symlinks, EC fragments, encrypted objects, multi-range, extra resources,
an explicit run-on-proxy request).
"""
import os

from swift.common.http import is_success
from swift.common.swob import (
    HTTPMethodNotAllowed, HTTPRequestedRangeNotSatisfiable, Request, Response)

from storlets.errors import StorletError
from storlets.gateway.invocation import Invocation, StorletInput, StorletRef
from storlets.middleware import request as parse
from storlets.middleware.framing import FRAMED_HEADER, frame
from storlets.middleware.handler import Handler
from storlets.middleware.invocation_request import GET, InvocationRequest
from storlets.middleware.metrics import InvocationMetrics
from storlets.middleware.placement import place
from storlets.middleware.response import (
    apply_result, mark_failure, output_headers)
from storlets.middleware.streams import close


def data_file_descriptor(app_iter):
    """A new descriptor for the object file behind a DiskFile reader.

    Swift's ``DiskFileReader`` keeps its open data file in ``_fp``; there is
    no public accessor. Returns None for any other body (then the storlet
    runs on the proxy instead).
    """
    fp = getattr(app_iter, '_fp', None)
    if fp is None or not hasattr(fp, 'fileno'):
        return None
    return os.dup(fp.fileno())


class ObjectHandler(Handler):

    def handle(self, req: Request, account: str,
               invocation: InvocationRequest) -> Response:
        """Run ``invocation`` (an ``InvocationRequest`` of the proxy's GET)
        on this object, or answer the raw object for the proxy to run it."""
        if invocation.kind != GET:
            return HTTPMethodNotAllowed(request=req)
        if 'Range' in req.headers and 'X-Storlet-Range' not in req.headers:
            # Swift's proxy resuming a GET: never re-run over a tail
            return HTTPRequestedRangeNotSatisfiable(
                body='Storlet execution with range header is not supported',
                content_type='text/plain')
        proxy_only = self.config.storlet_execute_on_proxy_only
        if place(invocation, proxy_only).on_proxy:
            return req.get_response(self.app)
        resp = req.get_response(self.app)
        if not is_success(resp.status_int):
            return resp
        placement = place(invocation, proxy_only, stored=resp.headers)
        if placement.on_proxy:
            return resp
        fd = data_file_descriptor(resp.app_iter)
        if fd is None:
            return resp
        resp.app_iter.close()
        start = end = input_range = None
        if invocation.storlet_range is not None:
            size = resp.content_length
            ranges = invocation.storlet_range.ranges_for_length(size)
            if not ranges:
                os.close(fd)
                return HTTPRequestedRangeNotSatisfiable(
                    headers={'Content-Range': 'bytes */%d' % size})
            (start, end), = ranges
            input_range = 'bytes %d-%d/%d' % (start, end - 1, size)
        storlet_name = invocation.storlet
        storlet = StorletRef.from_headers(storlet_name, req.headers)
        call = Invocation(
            account=account, storlet=storlet, params=dict(invocation.params),
            inputs=[StorletInput(parse.user_metadata(resp.headers), fd=fd,
                                 start=start, end=end)],
            on_log=self.code_source.log_uploader(
                req.headers, account, self.config.storlet_logcontainer,
                storlet_name))
        metrics = InvocationMetrics(self.logger, storlet_name, placement)
        try:
            result = self.gateway.invoke(call, self.code_source)
            try:
                headers = output_headers(result.metadata)
            except StorletError:
                close(result.body)
                raise
        except StorletError as err:
            metrics.failed(err)
            self.logger.warning('storlet %s failed: %s', storlet_name, err)
            return mark_failure(resp, err.failure_kind)
        finally:
            for inp in call.inputs:
                if inp.fd is not None:   # not consumed by the gateway
                    os.close(inp.fd)
        # A failure after the first byte travels inside the body, not as a
        # broken transfer the proxy would hold against this node.
        size = resp.content_length or 0
        result.body = frame(metrics.started_output(
            result, (end - start) if start is not None else size))
        apply_result(resp, result, headers, 'object', input_range)
        resp.headers[FRAMED_HEADER] = '1'
        return resp
