"""Value objects that travel from the middleware into a gateway and back.

``StorletRef`` says which code to run (from the storlet object's metadata),
``StorletInput`` is one input stream (an open file descriptor or an iterator
of bytes), ``Invocation`` bundles one call, and ``StorletResult`` is what a
gateway returns: the output metadata and a closeable iterator of output bytes.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple


@dataclass(frozen=True)
class StorletRef:
    """One version of one storlet, as the proxy's HEAD of it described."""
    name: str                     # object name in the storlet container
    language: str                 # 'python' or 'java' (lower case)
    main: str                     # 'module.Class' or a Java class name
    etag: str = ''
    timestamp: str = ''
    language_version: str = ''
    dependencies: Tuple[str, ...] = ()
    #: ETag@timestamp of each dependency, so an update gets a new version
    dependency_versions: Tuple[str, ...] = ()

    @classmethod
    def from_headers(cls, name, headers):
        """Build from internal ``X-Storlet-*`` headers set by the proxy."""
        deps = headers.get('X-Storlet-Dependency', '')
        return cls(
            name=name,
            language=headers.get('X-Storlet-Language', '').lower(),
            main=headers.get('X-Storlet-Main', ''),
            etag=headers.get('X-Storlet-Etag', ''),
            timestamp=headers.get('X-Storlet-X-Timestamp', ''),
            language_version=headers.get('X-Storlet-Language-Version', ''),
            dependencies=tuple(d for d in deps.split(',') if d),
            dependency_versions=tuple(
                v for v in headers.get('X-Storlet-Dependency-Versions',
                                       '').split(',') if v))


@dataclass
class StorletInput:
    """One input: exactly one of ``fd`` (a seekable file, owned by the
    invocation once passed) or ``body`` (an iterator of bytes)."""
    metadata: Dict[str, str]
    fd: Optional[int] = None
    body: Optional[Iterable[bytes]] = None
    start: Optional[int] = None   # half-open window [start, end) of ``fd``
    end: Optional[int] = None


@dataclass
class Invocation:
    account: str
    storlet: StorletRef
    params: Dict[str, str]
    inputs: List[StorletInput]
    #: receives the storlet's log lines (bytes) after the call, if set
    on_log: Optional[Callable[[bytes], None]] = None


@dataclass
class StorletResult:
    metadata: Dict[str, str]
    body: Iterable[bytes]         # closeable; closing it ends the call
    extra: dict = field(default_factory=dict)
