"""Exceptions shared by the middleware and the gateway.

Everything the gateway raises derives from ``StorletError``; the middleware
translates these into HTTP responses in exactly one place per handler.
"""


class StorletError(Exception):
    """Root of every storlet engine error."""


class StorletTimeout(StorletError):
    """The storlet did not produce metadata or output in time."""


class StorletRuntimeError(StorletError):
    """The storlet itself failed (raised, crashed, sent bad metadata)."""


class SandboxError(StorletError):
    """The engine could not start or reach the account's sandbox."""


class StorletCodeError(StorletError):
    """Storlet or dependency code could not be fetched into the node cache."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
