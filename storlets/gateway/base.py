"""The gateway interface: what the middleware asks of an execution engine.

A gateway validates registrations and runs invocations. ``invoke`` takes an
``Invocation`` and a ``CodeSource`` (how to fetch storlet and dependency
objects from Swift; provided by the middleware so that gateways never import
Swift) and returns a ``StorletResult`` or raises a ``StorletError``.
"""
from typing import (
    Any, Callable, Dict, Iterable, Mapping, Optional, Tuple)

from storlets.gateway import registration
from storlets.gateway.invocation import Invocation, StorletResult


class CodeSource:
    """Fetches code objects for a gateway. Implemented by the middleware."""

    def fetch(self, account: str, container_kind: str, name: str
              ) -> Tuple[Mapping[str, str], Iterable[bytes]]:
        """Return ``(headers, iterator of bytes)`` of a code object.

        ``container_kind`` is ``'storlet'`` or ``'dependency'``. Raises
        ``StorletCodeError`` when the object cannot be read.
        """
        raise NotImplementedError

    def log_uploader(self, headers: Mapping[str, str], account: str,
                     container: str, storlet_name: str
                     ) -> Optional[Callable[[bytes], None]]:
        """Where a call's log lines go, when the request asks to keep them
        (``X-Storlet-Generate-Log``): a callback, or None to drop them."""
        return None


class Gateway:
    """Base class; subclasses implement ``invoke``."""

    def __init__(self, conf: Optional[Dict[str, str]] = None,
                 logger: Any = None,
                 sections: Optional[Dict[str, Dict[str, str]]] = None
                 ) -> None:
        #: the gateway config file's [DEFAULT] options (strings)
        self.conf = conf or {}
        self.logger = logger
        #: its other sections, {name: {option: value}}
        self.sections = sections or {}

    def validate_storlet_registration(self, name: str,
                                      params: Mapping[str, str]) -> None:
        registration.validate_storlet(name, params)

    def validate_dependency_registration(
            self, name: str, params: Mapping[str, str]) -> None:
        registration.validate_dependency(name, params)

    def invoke(self, invocation: Invocation,
               code_source: CodeSource) -> StorletResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources held across requests (clients, sockets)."""
