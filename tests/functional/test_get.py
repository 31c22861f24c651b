"""GET with X-Run-Storlet against the real all-in-one and Docker."""
import http.client
import json
import os
import time
import uuid

import pytest
from swiftclient import ClientException

from tests.functional.conftest import (
    STORLETS_DIR, deploy, storlet_headers, swift_cli)


def run(conn, container, obj, storlet, headers=None, query=None):
    h = {'X-Run-Storlet': storlet}
    h.update(headers or {})
    return conn.get_object(container, obj, headers=h, query_string=query)


def test_swift_cli_upload_and_download_through_identity(container, tmp_path):
    # Exactly what a user types: upload with headers, download with -H.
    swift_cli('upload', 'storlet', 'identity.py',
              '-H', 'X-Object-Meta-Storlet-Language: Python',
              '-H', 'X-Object-Meta-Storlet-Interface-Version: 1.0',
              '-H', 'X-Object-Meta-Storlet-Object-Metadata: no',
              '-H', 'X-Object-Meta-Storlet-Main: identity.IdentityStorlet',
              cwd=STORLETS_DIR)
    src = tmp_path / 'myobject'
    src.write_bytes(b'hello storlets\n' * 1000)
    swift_cli('upload', container, 'myobject', cwd=str(tmp_path))
    out = swift_cli('download', container, 'myobject', '-o', '-',
                    '-H', 'X-Run-Storlet: identity.py')
    assert out.returncode == 0
    assert out.stdout == b'hello storlets\n' * 1000
    assert b'md5' not in out.stderr.lower()
    assert b'etag' not in out.stderr.lower()


def test_identity_streams_a_large_object_unchanged(conn, deployed,
                                                    container, placement):
    data = os.urandom(8 * 1024 * 1024 + 17)
    conn.put_object(container, 'big', data)
    headers, body = run(conn, container, 'big', 'identity.py', placement)
    assert body == data
    assert headers['x-storlet-executed'] == ('proxy' if placement
                                             else 'object')
    assert 'etag' not in headers
    assert 'content-length' not in headers or \
        int(headers['content-length']) == len(data)


def test_output_metadata_and_headers(conn, deployed, container, placement):
    conn.put_object(container, 'o', b'payload', headers={
        'X-Object-Meta-Shape': 'round', 'Content-Type': 'text/plain'})
    headers, body = run(conn, container, 'o', 'metadata_setter.py',
                        placement)
    assert body == b'payload'
    assert headers['x-object-meta-color'] == 'blue'
    assert headers['x-object-meta-shape'] == 'round'
    assert headers['content-type'] == 'text/x-storlet'
    assert 'etag' not in headers
    assert 'accept-ranges' not in headers
    assert 'last-modified' in headers


def test_parameters_from_query_and_headers(conn, deployed, container,
                                           placement):
    conn.put_object(container, 'o', b'')
    _, body = run(conn, container, 'o', 'echo_params.py',
                  headers=dict(placement, **{
                      'X-Storlet-Parameter-1': 'b:from%20header:x',
                      'X-Storlet-Parameter-2': 'a:header wins'}),
                  query='a=query&c=3')
    lines = body.decode().splitlines()
    params = dict(line.split('=', 1) for line in lines)
    assert params['a'] == 'header wins'
    assert params['b'] == 'from header:x'
    assert params['c'] == '3'
    assert params['storlet_execution_path'].startswith('/var/lib/storlets/')


def test_many_large_parameters(conn, deployed, container, placement):
    # far beyond upstream's 4 KiB control message: ~30 KiB of headers and
    # 300 query parameters (within Swift's 8 KiB URL limit)
    conn.put_object(container, 'o', b'')
    headers = {'X-Storlet-Parameter-%d' % i: 'k%d:%s' % (i, 'v' * 512)
               for i in range(60)}
    headers.update(placement)
    query = '&'.join('q%d=%s' % (i, 'w' * 10) for i in range(300))
    _, body = run(conn, container, 'o', 'echo_params.py', headers=headers,
                  query=query)
    assert body.decode().count('=' + 'v' * 512) == 60
    assert body.decode().count('=' + 'w' * 10 + '\n') == 300


def test_broken_storlet_is_503(conn, deployed, container, placement):
    conn.put_object(container, 'o', b'data')
    with pytest.raises(ClientException) as err:
        run(conn, container, 'o', 'broken.py', placement)
    assert err.value.http_status == 503
    assert err.value.http_response_content == b'Storlet execution failed'


def storlet_timeout():
    import configparser
    parser = configparser.ConfigParser()
    parser.read(os.environ.get('STORLETS_GATEWAY_CONF',
                               '/etc/swift/storlet-docker-gateway.conf'))
    return float(parser.defaults().get('storlet_timeout', 40))


def test_slow_storlet_times_out_with_503(conn, deployed, container):
    conn.put_object(container, 'o', b'data')
    started = time.monotonic()
    with pytest.raises(ClientException) as err:
        run(conn, container, 'o', 'slow.py')
    elapsed = time.monotonic() - started
    assert err.value.http_status == 503
    assert err.value.http_response_content == b'Storlet execution timed out'
    timeout = storlet_timeout()
    assert timeout - 1 < elapsed < timeout + 10
    # and a good storlet still works right after
    _, body = run(conn, container, 'o', 'identity.py')
    assert body == b'data'


def raw_get(conn, container, obj, headers):
    url, token = conn.get_auth()
    host = url.split('/')[2]
    path = '/' + url.split('/', 3)[3] + '/%s/%s' % (container, obj)
    client = http.client.HTTPConnection(host, timeout=60)
    client.request('GET', path, headers=dict(headers, **{
        'X-Auth-Token': token}))
    return client, client.getresponse()


@pytest.mark.parametrize('size', [15000, 4 * 1024 * 1024])
def test_failure_after_output_is_never_a_clean_200(conn, deployed, container,
                                                   size):
    conn.put_object(container, 'o', b'data')
    client, resp = raw_get(conn, container, 'o', {
        'X-Run-Storlet': 'fail_after_output.py',
        'X-Storlet-Parameter-1': 'size:%d' % size})
    try:
        if resp.status == 200:
            # headers were already sent: the body must break off
            with pytest.raises((http.client.IncompleteRead,
                                ConnectionError)):
                resp.read()
        else:
            assert resp.status >= 500
            resp.read()
    finally:
        client.close()
    if size > 1024 * 1024:
        assert resp.status == 200   # streaming had started


def test_missing_storlet_is_401(conn, deployed, container):
    conn.put_object(container, 'o', b'data')
    with pytest.raises(ClientException) as err:
        run(conn, container, 'o', 'no-such-storlet.py')
    assert err.value.http_status == 401


def test_account_not_enabled_is_400(test2_disabled):
    conn2 = test2_disabled
    name = 'functest-' + uuid.uuid4().hex[:8]
    conn2.put_container(name)
    try:
        conn2.put_object(name, 'o', b'data')
        with pytest.raises(ClientException) as err:
            run(conn2, name, 'o', 'identity.py')
        assert err.value.http_status == 400
        assert err.value.http_response_content == \
            b'Account disabled for storlets'
    finally:
        conn2.delete_object(name, 'o')
        conn2.delete_container(name)


def test_reupload_is_used_on_the_very_next_request(conn, container):
    template = (b'class VersionStorlet(object):\n'
                b'    def __init__(self, logger):\n        pass\n'
                b'    def __call__(self, i, o, p):\n'
                b'        o[0].set_metadata({})\n'
                b'        o[0].write(b"%s")\n        o[0].close()\n')
    conn.put_object(container, 'o', b'')
    for version in (b'version-1', b'version-2', b'version-3'):
        deploy(conn, None, 'version.VersionStorlet', name='version.py',
               source=template % version)
        _, body = run(conn, container, 'o', 'version.py')
        assert body == version


@pytest.mark.parametrize('drop,body', [
    ('X-Object-Meta-Storlet-Language',
     b'Mandatory parameter is missing: Language'),
    ('X-Object-Meta-Storlet-Main', b'Mandatory parameter is missing: Main'),
])
def test_bad_upload_headers_give_exact_400_and_store_nothing(conn, drop,
                                                             body):
    headers = storlet_headers('badup.BadUpStorlet')
    del headers[drop]
    with pytest.raises(ClientException) as err:
        conn.put_object('storlet', 'badup.py', b'x', headers=headers)
    assert err.value.http_status == 400
    assert err.value.http_response_content == body
    with pytest.raises(ClientException) as err:
        conn.head_object('storlet', 'badup.py')
    assert err.value.http_status == 404


def test_bad_upload_with_swift_cli_fails_clearly(tmp_path):
    src = tmp_path / 'wrongname.py'
    src.write_bytes(b'x')
    out = swift_cli('upload', 'storlet', 'wrongname.py',
                    '-H', 'X-Object-Meta-Storlet-Language: Python',
                    '-H', 'X-Object-Meta-Storlet-Interface-Version: 1.0',
                    '-H', 'X-Object-Meta-Storlet-Object-Metadata: no',
                    '-H', 'X-Object-Meta-Storlet-Main: other.Storlet',
                    cwd=str(tmp_path), check=False)
    assert out.returncode != 0
    assert b'400' in out.stderr


def test_sandbox_is_locked_down(conn, deployed, container):
    conn.put_object(container, 'o', b'')
    _, body = run(conn, container, 'o', 'inspect_sandbox.py')
    report = json.loads(body)
    assert int(report['CapEff'], 16) == 0
    assert int(report['CapPrm'], 16) == 0
    assert report['NoNewPrivs'] == '1'
    assert report['Seccomp'] == '2'
    assert report['uid'] != 0 and report['gid'] != 0
    assert report['interfaces'] == ['lo']
    assert report['connect_proxy'] != 'ok'
    assert report['write_root'] != 'ok'
    assert report['write_code_dir'] != 'ok'
    assert report['write_tmp'] == 'ok'
    assert report['docker_socket'] is False
    assert report['execution_path'].startswith('/var/lib/storlets/')
