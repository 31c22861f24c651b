"""Where a storlet runs (storlets.middleware.placement.place), for every
rule, from request values and stored headers alone."""
import pytest
from swift.common.swob import HeaderKeyDict, Range

from storlets.middleware.invocation_request import (
    COPY, GET, PUT, InvocationRequest)
from storlets.middleware.placement import OBJECT, PROXY, place


def invocation(kind=GET, **fields):
    return InvocationRequest(kind=kind, storlets=('s.py',), **fields)


@pytest.mark.parametrize('inv, proxy_only, ec, reason', [
    (invocation(PUT), False, False, 'put'),
    (invocation(run_on_proxy=True), False, False, 'requested'),
    (invocation(), True, False, 'configured'),
    (invocation(COPY), True, False, 'configured'),
    (invocation(extra_resources=(('c', 'o'),)), False, False,
     'extra-resources'),
    (invocation(storlet_range=Range('bytes=0-1,4-5')), False, False,
     'multi-range'),
    (invocation(), False, True, 'erasure-coded'),
])
def test_the_request_alone_sends_it_to_the_proxy(inv, proxy_only, ec,
                                                 reason):
    placement = place(inv, proxy_only, erasure_coded=ec)
    assert (placement.side, placement.reason) == (PROXY, reason)
    # what the object server stores cannot bring it back next to the data
    assert place(inv, proxy_only, ec, stored=HeaderKeyDict()).on_proxy


@pytest.mark.parametrize('name, reason', [
    ('X-Object-Sysmeta-Crypto-Body-Meta', 'encrypted'),
    ('X-Object-Sysmeta-Crypto-Etag-Mac', 'encrypted'),
    # a zero-byte object through the encrypter: no body meta, but its
    # user metadata is encrypted
    ('X-Object-Transient-Sysmeta-Crypto-Meta-Secret', 'encrypted'),
    ('x-object-transient-sysmeta-crypto-meta', 'encrypted'),
    ('X-Static-Large-Object', 'manifest'),
    ('X-Object-Manifest', 'manifest'),
    ('X-Object-Sysmeta-Symlink-Target', 'symlink'),
    ('X-Object-Sysmeta-Ec-Frag-Index', 'ec-fragment')])
def test_what_is_stored_sends_it_to_the_proxy(name, reason):
    stored = HeaderKeyDict({name: 'v', 'Content-Length': '0'})
    placement = place(invocation(), False, stored=stored)
    assert (placement.side, placement.reason) == (PROXY, reason)


def test_a_plain_object_runs_next_to_its_data():
    stored = HeaderKeyDict({
        'Content-Length': '5', 'X-Object-Meta-Crypto': 'a user key',
        'X-Object-Sysmeta-Other': 'x'})
    for inv in (invocation(), invocation(COPY),
                invocation(storlet_range=Range('bytes=1-2'))):
        assert place(inv, False).side == OBJECT
        assert place(inv, False, stored=stored).side == OBJECT
