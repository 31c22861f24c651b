"""Fetches storlet and dependency objects from Swift for a gateway.

One ``InternalClient`` per server process, built on first use (building one
parses a config file and a whole proxy pipeline; never do that per request).
"""
from swift.common.internal_client import InternalClient, UnexpectedResponse

from storlets.errors import StorletCodeError
from storlets.gateway.base import CodeSource


class SwiftCodeSource(CodeSource):

    def __init__(self, conf_path, containers):
        self.conf_path = conf_path
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
                account, container, name)
        except UnexpectedResponse as err:
            raise StorletCodeError(
                'Cannot fetch %s %s/%s: %s' % (container_kind, container, name,
                                               err.resp.status),
                status=err.resp.status_int)
        except Exception as err:
            raise StorletCodeError('Cannot fetch %s %s/%s: %s'
                                   % (container_kind, container, name, err))
        return headers, body
