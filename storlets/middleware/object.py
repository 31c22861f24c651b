"""Object-server side: run a storlet next to the data.

For a GET carrying ``X-Run-Storlet`` (and the storlet metadata the proxy
attached), the object server's own response is obtained first, so Swift
does every check (existence, conditionals, expiry). Its open data file is then
handed to the gateway, which splices the requested bytes of it into the
sandbox's input pipe (storlets/gateway/execution.py: the sandbox never gets
the file itself): the object's bytes never pass through this process's
memory. The handler declines (returns the raw object, unmarked) when
the storlet must run on the proxy: SLO manifests, symlinks, EC fragments,
multi-range requests, encrypted objects (any crypto sysmeta), extra resources
or an explicit run-on-proxy request.
"""
import os

from swift.common.http import is_success
from swift.common.swob import (
    HTTPMethodNotAllowed, HTTPRequestedRangeNotSatisfiable)

from storlets.errors import StorletError
from storlets.gateway.invocation import Invocation, StorletInput, StorletRef
from storlets.middleware import request as parse
from storlets.middleware.framing import FRAMED_HEADER, frame
from storlets.middleware.handler import Handler
from storlets.middleware.metrics import InvocationMetrics
from storlets.middleware.response import (
    apply_result, mark_failure, output_headers)
from storlets.middleware.streams import close

#: Responses the storlet must not see raw here: SLO and DLO manifests (the
#: storlet must see the assembled object), symlinks (the target), EC
#: fragments and encrypted objects (ciphertext, see DECLINE_HEADER_PREFIXES).
#: The proxy runs those.
DECLINE_RESPONSE_HEADERS = ('X-Static-Large-Object', 'X-Object-Manifest',
                            'X-Object-Sysmeta-Symlink-Target',
                            'X-Object-Sysmeta-Ec-Frag-Index')
#: Any header with one of these prefixes marks an object written through
#: the encryption middleware: not only its body (``...-Crypto-Body-Meta``,
#: absent on a zero-byte object) but its metadata may be encrypted, and only
#: the proxy's decrypter turns them into what the API shows.
DECLINE_HEADER_PREFIXES = ('x-object-sysmeta-crypto-',
                           'x-object-transient-sysmeta-crypto-')


def runs_on_proxy(headers):
    """True if the object server's response ``headers`` say the object
    must reach the storlet through the proxy (see DECLINE_*)."""
    return any(h in headers for h in DECLINE_RESPONSE_HEADERS) or any(
        name.lower().startswith(DECLINE_HEADER_PREFIXES)
        for name in headers.keys())


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

    def declines(self, req):
        """True when the request says the storlet belongs on the proxy."""
        return (self.config.storlet_execute_on_proxy_only
                or parse.check_run_on_proxy(req.headers)
                or 'X-Storlet-Extra-Resources' in req.headers)

    def handle(self, req, account, storlet_name):
        if req.method != 'GET':
            return HTTPMethodNotAllowed(request=req)
        if 'Range' in req.headers and 'X-Storlet-Range' not in req.headers:
            return HTTPRequestedRangeNotSatisfiable(
                body='Storlet execution with range header is not supported',
                content_type='text/plain')
        storlet_range = parse.parse_storlet_range(req.headers)
        if self.declines(req) or (storlet_range is not None
                                  and len(storlet_range.ranges) > 1):
            return req.get_response(self.app)
        params = parse.parse_parameters(req.params, req.headers)
        resp = req.get_response(self.app)
        if not is_success(resp.status_int) or runs_on_proxy(resp.headers):
            return resp
        fd = data_file_descriptor(resp.app_iter)
        if fd is None:
            return resp
        resp.app_iter.close()
        start = end = input_range = None
        if storlet_range is not None:
            size = resp.content_length
            ranges = storlet_range.ranges_for_length(size)
            if not ranges:
                os.close(fd)
                return HTTPRequestedRangeNotSatisfiable(
                    headers={'Content-Range': 'bytes */%d' % size})
            (start, end), = ranges
            input_range = 'bytes %d-%d/%d' % (start, end - 1, size)
        storlet = StorletRef.from_headers(storlet_name, req.headers)
        invocation = Invocation(
            account=account, storlet=storlet, params=params,
            inputs=[StorletInput(parse.user_metadata(resp.headers), fd=fd,
                                 start=start, end=end)],
            on_log=self.code_source.log_uploader(
                req.headers, account, self.config.storlet_logcontainer,
                storlet_name))
        metrics = InvocationMetrics(self.logger, storlet_name, 'object')
        try:
            result = self.gateway.invoke(invocation, self.code_source)
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
            for inp in invocation.inputs:
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
