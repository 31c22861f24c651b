"""Exceptions shared by the middleware and the gateway, and what each one
means to a client.

Everything the gateway raises derives from ``StorletError``. Each class
says, once, how it is reported:

* ``failure_kind``: the key of ``FAILURES``, i.e. the status and body a
  client gets when the error ends a call before any output (also the
  marker an object server sends the proxy in ``X-Storlet-Failure``);
* ``metric_kind``: the StatsD counter ``errors.<metric_kind>``.

``storlets.middleware.response.failure_response`` is the one function that
turns a kind into a response. A new error is a class here (and, if clients
must tell it apart, a row of ``FAILURES``).
"""
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Failure:
    """How a client hears of a call that failed before its first byte."""
    body: str
    status: int = 503           # a GET (or a copy's source read: put_status)
    put_status: int = 500       # a PUT or copy: nothing was stored
    retry_after: Optional[int] = None   # seconds, for Retry-After


#: failure_kind -> Failure; an unknown kind (from an older object server)
#: is answered as ``failed``.
FAILURES = {
    'failed': Failure('Storlet execution failed'),
    'timeout': Failure('Storlet execution timed out'),
    'busy': Failure('This node has too many active storlet sandboxes; '
                    'retry later', status=503, put_status=503,
                    retry_after=5),
}


class StorletError(Exception):
    """Root of every storlet engine error."""

    failure_kind = 'failed'
    metric_kind = 'failed'


class StorletTimeout(StorletError):
    """The storlet did not produce metadata or output in time."""

    failure_kind = 'timeout'
    metric_kind = 'timeout'


class StorletRuntimeError(StorletError):
    """The storlet itself failed (raised, crashed, sent bad metadata)."""


class SandboxError(StorletError):
    """The engine could not start or reach the account's sandbox."""

    metric_kind = 'sandbox'


class SandboxBusy(SandboxError):
    """The node runs ``max_containers_per_node`` sandboxes, each serving a
    call: no sandbox can be started now (answered with ``503`` and
    ``Retry-After``)."""

    failure_kind = 'busy'
    #: seconds a client should wait before trying again
    retry_after = FAILURES['busy'].retry_after


class StorletCodeError(StorletError):
    """Storlet or dependency code could not be fetched into the node cache."""

    metric_kind = 'code'

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
