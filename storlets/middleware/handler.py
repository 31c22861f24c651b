"""What the proxy and object handlers share: the next app and the engine."""
from typing import Any, Callable

from storlets.gateway.base import CodeSource, Gateway
from storlets.middleware.config import StorletConfig


class Handler:
    """Base of ``ProxyHandler`` and ``ObjectHandler``."""

    def __init__(self, app: Callable, config: StorletConfig,
                 gateway: Gateway, code_source: CodeSource,
                 logger: Any) -> None:
        self.app = app                  # the rest of the Swift pipeline
        self.config = config            # StorletConfig, parsed at load
        self.gateway = gateway          # the execution engine
        self.code_source = code_source  # fetches code, stores logs
        self.logger = logger
