"""Which object-server responses the storlet must not run on (object.py)."""
import pytest
from swift.common.swob import HeaderKeyDict

from storlets.middleware.object import runs_on_proxy


@pytest.mark.parametrize('name', [
    'X-Object-Sysmeta-Crypto-Body-Meta',
    'X-Object-Sysmeta-Crypto-Etag-Mac',
    # a zero-byte object through the encrypter: no body meta, but its
    # user metadata is encrypted
    'X-Object-Transient-Sysmeta-Crypto-Meta-Secret',
    'x-object-transient-sysmeta-crypto-meta',
    'X-Static-Large-Object', 'X-Object-Sysmeta-Ec-Frag-Index'])
def test_encrypted_and_assembled_objects_run_on_the_proxy(name):
    assert runs_on_proxy(HeaderKeyDict({name: 'v', 'Content-Length': '0'}))


def test_a_plain_object_runs_here():
    assert not runs_on_proxy(HeaderKeyDict({
        'Content-Length': '5', 'X-Object-Meta-Crypto': 'a user key',
        'X-Object-Sysmeta-Other': 'x'}))
