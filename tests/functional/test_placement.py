"""Where a storlet runs: next to the data, or on the proxy when it must.

A storlet runs exactly once per request, never on an EC fragment or on
ciphertext. The counting storlet keeps a per-key count in the sandbox it
runs in; a test sums the counts of the account's sandboxes on every node of
the cluster (``leaks.counted_runs``) to ask how often it ran.
"""
import json
import os
import uuid

import pytest
import swiftclient

from tests.functional import leaks
from tests.functional.conftest import AUTH, storlet_get

DATA = b'plaintext payload, recognisable ' * 1000


def runs(conn, container, key):
    return leaks.counted_runs(conn.url.rstrip('/').rsplit('/', 1)[1], key)


@pytest.fixture
def counted(conn, deployed, container):
    conn.put_object(container, 'probe', b'')
    key = uuid.uuid4().hex

    def get(obj, headers=None, c=None, connection=None):
        h = {'X-Storlet-Parameter-1': 'key:' + key}
        h.update(headers or {})
        return storlet_get(connection or conn, c or container, obj,
                           'count_runs.py', h)
    get.key = key
    return get


def test_plain_get_runs_once_on_object_server(conn, container, counted):
    conn.put_object(container, 'o', DATA)
    headers, body = counted('o')
    assert body == DATA
    assert headers['x-storlet-executed'] == 'object'
    assert runs(conn, container, counted.key) == 1


def test_run_on_proxy_runs_once_on_proxy(conn, container, counted):
    conn.put_object(container, 'o', DATA)
    headers, body = counted('o', {'X-Storlet-Run-On-Proxy': ''})
    assert body == DATA
    assert headers['x-storlet-executed'] == 'proxy'
    assert runs(conn, container, counted.key) == 1


def test_slo_runs_once_on_the_assembled_object(conn, container, counted):
    segments = [b'segment-one|' * 100, b'segment-two|' * 100]
    manifest = []
    for i, seg in enumerate(segments):
        conn.put_object(container, 'seg%d' % i, seg)
        manifest.append({'path': '/%s/seg%d' % (container, i)})
    conn.put_object(container, 'slo', json.dumps(manifest),
                    query_string='multipart-manifest=put',
                    headers={'X-Object-Meta-Kind': 'slo'})
    headers, body = counted('slo')
    assert body == b''.join(segments)
    assert headers['x-storlet-executed'] == 'proxy'
    assert headers['x-object-meta-kind'] == 'slo'
    assert runs(conn, container, counted.key) == 1


def test_dlo_runs_once_on_the_assembled_object(conn, container, counted):
    conn.put_object(container, 'dlo-parts/1', b'first|' * 100)
    conn.put_object(container, 'dlo-parts/2', b'second|' * 100)
    conn.put_object(container, 'dlo', b'', headers={
        'X-Object-Manifest': '%s/dlo-parts/' % container})
    headers, body = counted('dlo')
    assert body == b'first|' * 100 + b'second|' * 100
    assert runs(conn, container, counted.key) == 1


def test_symlink_runs_once_on_the_target(conn, container, counted):
    conn.put_object(container, 'target', DATA)
    conn.put_object(container, 'link', b'', headers={
        'X-Symlink-Target': '%s/target' % container})
    headers, body = counted('link')
    assert body == DATA
    assert runs(conn, container, counted.key) == 1


def test_erasure_coded_object_runs_once_on_the_proxy(conn, container,
                                                     counted):
    policy = os.environ.get('STORLETS_EC_POLICY')
    assert policy, 'the all-in-one must provide an EC policy'
    ec = container + '-ec'
    conn.put_container(ec, headers={'X-Storage-Policy': policy})
    try:
        data = os.urandom(3 * 1024 * 1024 + 5)
        conn.put_object(ec, 'o', data)
        headers, body = counted('o', c=ec)
        assert body == data          # never a fragment
        assert headers['x-storlet-executed'] == 'proxy'
        assert runs(conn, container, counted.key) == 1
    finally:
        conn.delete_object(ec, 'o')
        conn.delete_container(ec)


def test_encrypted_object_runs_once_on_plaintext(conn, container, counted):
    url = os.environ.get('STORLETS_ENCRYPTED_PROXY')
    assert url, 'the all-in-one must provide an encrypting proxy'
    enc = swiftclient.Connection(AUTH.replace('http://127.0.0.1:8080', url),
                                 'test:tester', 'testing', retries=0)
    enc.put_object(container, 'secret', DATA)
    headers, body = counted('secret', connection=enc)
    assert body == DATA              # never ciphertext
    assert headers['x-storlet-executed'] == 'proxy'
    assert runs(conn, container, counted.key) == 1
    enc.delete_object(container, 'secret')


def test_proxy_only_config_never_runs_on_object_servers(conn, container,
                                                        counted):
    # The proxy strips X-Run-Storlet when it runs a storlet itself: even an
    # object server that would run it never sees the request as a storlet
    # call. Checked through the run count with extra resources (a proxy
    # reason the object server also knows).
    conn.put_object(container, 'o', DATA)
    headers, body = counted('o', {
        'X-Storlet-Extra-Resources': '/%s/probe' % container})
    assert body == DATA
    assert headers['x-storlet-executed'] == 'proxy'
    assert runs(conn, container, counted.key) == 1


def test_slo_with_storlet_range_applies_the_range(conn, container, counted):
    manifest = []
    for i, seg in enumerate([b'0123456789', b'abcdefghij']):
        conn.put_object(container, 'rseg%d' % i, seg)
        manifest.append({'path': '/%s/rseg%d' % (container, i)})
    conn.put_object(container, 'rslo', json.dumps(manifest),
                    query_string='multipart-manifest=put')
    headers, body = counted('rslo', {'X-Storlet-Range': 'bytes=8-11'})
    assert body == b'89ab'
    assert headers['storlet-input-range'] == 'bytes 8-11/20'
    assert runs(conn, container, counted.key) == 1
