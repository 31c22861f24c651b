"""The all-in-one's storage policies are what they claim, on disk: the EC
policy stores three fragments (2 data + 1 parity) and round-trips the data;
objects written through the encrypting proxy (8081) are ciphertext in every
replica, those written through 8080 plaintext. Storlet tests elsewhere rely
on both (placement on the proxy for EC and encrypted objects)."""
import glob
import os

import swiftclient
from swift.common.ring import Ring
from swift.common.utils import hash_path, validate_configuration

from tests.functional.conftest import AUTH

SWIFT_DIR = '/etc/swift'
#: node N's device dN lies in DATA_ROOT/nodeN
DATA_ROOT = '/srv/storlets-aio/node'


def data_files(policy_index, account, container, obj):
    validate_configuration()        # reads the hash path prefix/suffix
    suffix = '-%d' % policy_index if policy_index else ''
    part, nodes = Ring(SWIFT_DIR, ring_name='object' + suffix).get_nodes(
        account, container, obj)
    digest = hash_path(account, container, obj)
    files = []
    for node in nodes:
        devices = os.path.join(DATA_ROOT, 'node' + node['device'][1:])
        files += glob.glob(os.path.join(
            devices, node['device'], 'objects' + suffix, str(part),
            digest[-3:], digest, '*.data'))
    return sorted(files)


def account_of(conn):
    return conn.get_auth()[0].rstrip('/').rsplit('/', 1)[1]


def test_the_ec_policy_stores_three_fragments(conn, container):
    policy = os.environ.get('STORLETS_EC_POLICY')
    assert policy, 'the all-in-one must provide an EC policy'
    ec = container + '-ec'
    conn.put_container(ec, headers={'X-Storage-Policy': policy})
    try:
        assert conn.head_container(ec)['x-storage-policy'] == policy
        data = os.urandom(3 * 1024 * 1024 + 12345)
        conn.put_object(ec, 'random', data)
        assert conn.get_object(ec, 'random')[1] == data
        files = data_files(1, account_of(conn), ec, 'random')
        assert sorted(os.path.basename(f).split('#')[1] for f in files) == \
            ['0', '1', '2']
        # each holds about half the object: a fragment, not a replica
        assert all(os.path.getsize(f) < 0.6 * len(data) for f in files)
    finally:
        conn.delete_object(ec, 'random')
        conn.delete_container(ec)


def test_the_encrypting_proxy_stores_ciphertext(conn, container):
    url = os.environ.get('STORLETS_ENCRYPTED_PROXY')
    assert url, 'the all-in-one must provide an encrypting proxy'
    enc = swiftclient.Connection(AUTH.replace('http://127.0.0.1:8080', url),
                                 'test:tester', 'testing', retries=0)
    marker = b'STORLETS-AIO-PLAINTEXT-MARKER'
    text = (marker + b' ') * 2000
    enc.put_object(container, 'via-8081', text)
    conn.put_object(container, 'via-8080', text)
    assert enc.get_object(container, 'via-8081')[1] == text
    assert marker not in conn.get_object(container, 'via-8081')[1]
    account = account_of(conn)
    encrypted = data_files(0, account, container, 'via-8081')
    plain = data_files(0, account, container, 'via-8080')
    assert len(encrypted) == len(plain) == 3
    for path in encrypted:
        with open(path, 'rb') as f:
            assert marker not in f.read(), path
    for path in plain:
        with open(path, 'rb') as f:
            assert marker in f.read(), path
