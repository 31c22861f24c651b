"""Exceptions shared by the middleware and the gateway.

Everything the gateway raises derives from ``StorletError``; the middleware
translates these into HTTP responses in exactly one place per handler.
"""


class StorletError(Exception):
    """Root of every storlet engine error."""

    #: How the client hears of it when it fails a call before any output:
    #: the marker an object server sends to the proxy (``X-Storlet-Failure``)
    #: and the proxy's response (``proxy.failure_response``).
    failure_kind = 'failed'


class StorletTimeout(StorletError):
    """The storlet did not produce metadata or output in time."""

    failure_kind = 'timeout'


class StorletRuntimeError(StorletError):
    """The storlet itself failed (raised, crashed, sent bad metadata)."""


class SandboxError(StorletError):
    """The engine could not start or reach the account's sandbox."""


class SandboxBusy(SandboxError):
    """The node runs ``max_containers_per_node`` sandboxes, each serving a
    call: no sandbox can be started now (answered with ``503`` and
    ``Retry-After``)."""

    failure_kind = 'busy'
    #: seconds a client should wait before trying again
    retry_after = 5


class StorletCodeError(StorletError):
    """Storlet or dependency code could not be fetched into the node cache."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
