"""Fetches storlet code from Swift for a gateway, and stores storlet logs.

One ``InternalClient`` per server process, built on first use (building one
parses a config file and a whole proxy pipeline; never do that per request).
Code is read from the newest replica (``X-Newest``), the one the proxy
described: a replica that missed a re-upload would hold the old code.
"""
import functools
import io

from swift.common.internal_client import InternalClient, UnexpectedResponse
from swift.common.utils import config_true_value

from storlets.errors import StorletCodeError
from storlets.gateway.base import CodeSource


class SwiftCodeSource(CodeSource):

    def __init__(self, conf_path, containers, logger=None):
        self.conf_path = conf_path
        self.logger = logger
        #: {'storlet': <container>, 'dependency': <container>}
        self.containers = containers
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = InternalClient(
                self.conf_path, 'Storlets code fetcher', request_tries=2)
        return self._client

    def fetch(self, account, container_kind, name):
        container = self.containers[container_kind]
        try:
            _status, headers, body = self.client.get_object(
                account, container, name, headers={'X-Newest': 'true'})
        except UnexpectedResponse as err:
            raise StorletCodeError(
                'Cannot fetch %s %s/%s: %s' % (container_kind, container, name,
                                               err.resp.status),
                status=err.resp.status_int)
        except Exception as err:
            raise StorletCodeError('Cannot fetch %s %s/%s: %s'
                                   % (container_kind, container, name, err))
        return headers, body

    def upload_log(self, account, container, name, data):
        """Store a storlet's log; a failure is logged, never raised."""
        try:
            self.client.upload_object(
                io.BytesIO(data), account, container, name,
                headers={'Content-Type': 'text/plain'})
        except Exception as err:
            if self.logger:
                self.logger.warning('cannot upload storlet log %s/%s: %s',
                                    container, name, err)

    def log_uploader(self, headers, account, container, storlet_name):
        """A callback storing the call's log, if ``X-Storlet-Generate-Log``
        asks for it (Swift true values); else None."""
        if not config_true_value(headers.get('X-Storlet-Generate-Log')):
            return None
        return functools.partial(self.upload_log, account, container,
                                 '%s.log' % storlet_name)
