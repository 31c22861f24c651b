"""Where a storlet runs: on the proxy, or on an object server next to the
data. One pure function, ``place``, used by both handlers.

The object side is preferred (the data does not cross the network). The
proxy runs the storlet when:

==================  ==========================================================
reason              why
==================  ==========================================================
``put``             a PUT's input is the client's upload, which is on the proxy
``requested``       the client sent ``X-Storlet-Run-On-Proxy``
``configured``      the operator set ``storlet_execute_on_proxy_only``
``extra-resources`` the inputs come from several objects
``multi-range``     ``X-Storlet-Range`` names more than one range
``erasure-coded``   object servers of an EC policy hold fragments
``manifest``        an SLO or DLO manifest: the storlet sees the whole object
``symlink``         the storlet sees the target, not the link
``ec-fragment``     the object server holds a fragment (EC)
``encrypted``       encrypted data or metadata (any crypto sysmeta): only
                    the proxy's decrypter shows what the API shows
==================  ==========================================================

The proxy decides with what the request says (``place`` without
``stored``); an object server decides again with its stored object's
headers, and answers the raw object when the proxy must run it (then the
proxy's reason is ``declined``).
"""
from dataclasses import dataclass
from typing import Mapping, Optional

from storlets.middleware.invocation_request import PUT, InvocationRequest

PROXY, OBJECT = 'proxy', 'object'
#: Where it ran, as an object server's answer tells the proxy.
NEXT_TO_DATA = 'next-to-data'
DECLINED = 'declined'
#: Headers of a stored object that the storlet must not see raw, with the
#: reason they give.
STORED_HEADERS = (
    ('X-Static-Large-Object', 'manifest'),
    ('X-Object-Manifest', 'manifest'),
    ('X-Object-Sysmeta-Symlink-Target', 'symlink'),
    ('X-Object-Sysmeta-Ec-Frag-Index', 'ec-fragment'),
)
#: Any header with one of these prefixes marks an object written through
#: the encryption middleware: not only its body (``...-Crypto-Body-Meta``,
#: absent on a zero-byte object) but its metadata may be encrypted.
ENCRYPTED_PREFIXES = ('x-object-sysmeta-crypto-',
                      'x-object-transient-sysmeta-crypto-')


@dataclass(frozen=True)
class Placement:
    side: str       # PROXY or OBJECT
    reason: str     # see the module doc

    @property
    def on_proxy(self) -> bool:
        return self.side == PROXY


def place(invocation: InvocationRequest, proxy_only: bool,
          erasure_coded: bool = False,
          stored: Optional[Mapping[str, str]] = None) -> Placement:
    """Where ``invocation`` runs, and why.

    ``proxy_only`` is the ``storlet_execute_on_proxy_only`` option;
    ``erasure_coded`` whether the container's policy is EC (the proxy
    knows); ``stored`` the stored object's headers (an object server
    knows).
    """
    for reason, applies in (
            ('put', invocation.kind == PUT),
            ('requested', invocation.run_on_proxy),
            ('configured', proxy_only),
            ('extra-resources', bool(invocation.extra_resources)),
            ('multi-range', invocation.multi_range),
            ('erasure-coded', erasure_coded)):
        if applies:
            return Placement(PROXY, reason)
    if stored is not None:
        for header, reason in STORED_HEADERS:
            if header in stored:
                return Placement(PROXY, reason)
        if any(name.lower().startswith(ENCRYPTED_PREFIXES)
               for name in stored.keys()):
            return Placement(PROXY, 'encrypted')
    return Placement(OBJECT, NEXT_TO_DATA)
