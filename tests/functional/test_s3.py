"""S3 clients: boto3 through s3api on the all-in-one's 8080 proxy.

The storlet headers are the Swift API's, added by boto3's ``before-sign``
event hooks so SigV4 signs them. Results and metadata are compared with the
Swift API's for the same object; errors are S3 XML errors.
"""
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.conftest import USERS, storlet_get
from tests.functional.test_acl import set_storlet_acl
from tests.functional.test_readme import REPO, blocks, run, section

ENDPOINT = 'http://127.0.0.1:8080'
DATA = b'0123456789abcdefghij'


def s3_client(user='tester'):
    name, key = USERS[user]
    return boto3.client(
        's3', endpoint_url=ENDPOINT, region_name='us-east-1',
        aws_access_key_id=name, aws_secret_access_key=key,
        config=Config(s3={'addressing_style': 'path'},
                      signature_version='s3v4',
                      retries={'max_attempts': 1}))


def call(client, operation, headers, **params):
    """``client.<operation>(**params)`` with extra, signed, headers."""
    event = 'before-sign.s3.%s' % operation

    def add_headers(request, **_kwargs):
        for name, value in headers.items():
            request.headers[name] = value
    client.meta.events.register(event, add_headers, unique_id='storlets')
    try:
        method = ''.join('_' + c.lower() if c.isupper() else c
                         for c in operation).lstrip('_')
        return getattr(client, method)(**params)
    finally:
        client.meta.events.unregister(event, unique_id='storlets')


def s3_error(call_):
    with pytest.raises(ClientError) as err:
        call_()
    resp = err.value.response
    return (resp['ResponseMetadata']['HTTPStatusCode'],
            resp['Error']['Code'], resp['Error'].get('Message'))


@pytest.fixture(scope='module')
def s3():
    return s3_client()


def test_get_object_matches_the_swift_api(conn, deployed, container, s3):
    s3.put_object(Bucket=container, Key='o', Body=DATA,
                  Metadata={'shape': 'round'})
    resp = call(s3, 'GetObject', {'X-Run-Storlet': 'metadata_setter.py',
                                  'X-Storlet-Parameter-1': 'color:green'},
                Bucket=container, Key='o')
    body = resp['Body'].read()
    headers, swift_body = storlet_get(conn, container, 'o',
                                      'metadata_setter.py',
                                      {'X-Storlet-Parameter-1': 'color:green'})
    assert body == swift_body == DATA
    assert resp['Metadata'] == {'shape': 'round', 'color': 'green'}
    assert headers['x-object-meta-color'] == 'green'
    assert resp['ContentType'] == headers['content-type'] == 'text/x-storlet'


def test_put_object_stores_the_storlet_output(conn, deployed, container, s3):
    call(s3, 'PutObject', {'X-Run-Storlet': 'metadata_setter.py'},
         Bucket=container, Key='put', Body=DATA)
    headers, body = conn.get_object(container, 'put')
    assert body == DATA
    assert headers['x-object-meta-color'] == 'blue'
    assert s3.head_object(Bucket=container, Key='put')['Metadata'] == {
        'color': 'blue'}


def test_copy_object_runs_the_storlet_on_the_source(conn, deployed,
                                                    container, s3):
    conn.put_object(container, 'src', DATA)
    resp = call(s3, 'CopyObject', {'X-Run-Storlet': 'metadata_setter.py'},
                Bucket=container, Key='copy',
                CopySource={'Bucket': container, 'Key': 'src'})
    assert resp['CopyObjectResult']['ETag']
    headers, body = conn.get_object(container, 'copy')
    assert body == DATA
    assert headers['x-object-meta-color'] == 'blue'


def test_ranged_run_uses_x_storlet_range(deployed, container, s3):
    s3.put_object(Bucket=container, Key='o', Body=DATA)
    resp = call(s3, 'GetObject', {'X-Run-Storlet': 'identity.py',
                                  'X-Storlet-Range': 'bytes=2-5'},
                Bucket=container, Key='o')
    assert resp['Body'].read() == b'2345'
    status, code, message = s3_error(lambda: call(
        s3, 'GetObject', {'X-Run-Storlet': 'identity.py'},
        Bucket=container, Key='o', Range='bytes=2-5'))
    assert (status, code) == (400, 'InvalidRequest')
    assert 'range' in message


@pytest.mark.parametrize('headers,expected', [
    ({'X-Run-Storlet': 'no-such-storlet.py'}, (403, 'AccessDenied')),
    ({'X-Run-Storlet': 'identity.py', 'X-Storlet-Parameter-1': 'nocolon'},
     (400, 'InvalidRequest')),
    ({'X-Run-Storlet': 'broken.py'}, (503, 'ServiceUnavailable')),
])
def test_errors_are_s3_errors_with_our_message(deployed, container, s3,
                                               headers, expected):
    s3.put_object(Bucket=container, Key='o', Body=DATA)
    status, code, message = s3_error(lambda: call(
        s3, 'GetObject', headers, Bucket=container, Key='o'))
    assert (status, code) == expected
    assert 'storlet' in message.lower() or 'Parameter' in message


def test_storlet_acl_seen_from_s3(conn, deployed, container):
    conn.put_object(container, 'o', DATA)
    s3_3 = s3_client('tester3')
    run = {'X-Run-Storlet': 'identity.py'}
    assert s3_error(lambda: call(s3_3, 'GetObject', run, Bucket=container,
                                 Key='o'))[:2] == (403, 'AccessDenied')
    set_storlet_acl(conn, container, 'tester3', 'identity.py')
    resp = call(s3_3, 'GetObject', run, Bucket=container, Key='o')
    assert resp['Body'].read() == DATA
    assert s3_error(lambda: s3_3.get_object(
        Bucket=container, Key='o'))[:2] == (403, 'AccessDenied')


def test_presigned_url_pins_the_storlet(deployed, container, s3):
    """A presigned GetObject URL with X-Run-Storlet signed in: whoever
    holds it must send that header, so it never gives the raw object."""
    s3.put_object(Bucket=container, Key='o', Body=DATA)
    event = 'before-sign.s3.GetObject'

    def add_headers(request, **_kwargs):
        request.headers['X-Run-Storlet'] = 'metadata_setter.py'
    s3.meta.events.register(event, add_headers, unique_id='presign')
    try:
        url = s3.generate_presigned_url(
            'get_object', Params={'Bucket': container, 'Key': 'o'})
    finally:
        s3.meta.events.unregister(event, unique_id='presign')
    req = urllib.request.Request(
        url, headers={'X-Run-Storlet': 'metadata_setter.py'})
    with urllib.request.urlopen(req) as resp:
        assert resp.read() == DATA
        assert resp.headers['x-amz-meta-color'] == 'blue'
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url)
    assert err.value.code == 403


def test_virtual_host_style_runs_the_storlet(conn, deployed, container):
    """``<bucket>.localhost`` (the proxy's ``storage_domain``): names under
    ``localhost`` do not resolve on this host, so the request is sent to
    127.0.0.1 with the virtual host in its (signed) Host header, as a DNS
    wildcard would deliver it."""
    name, key = USERS['tester']
    s3v = boto3.client(
        's3', endpoint_url='http://localhost:8080', region_name='us-east-1',
        aws_access_key_id=name, aws_secret_access_key=key,
        config=Config(s3={'addressing_style': 'virtual'},
                      signature_version='s3v4',
                      retries={'max_attempts': 1}))
    sent = []

    def to_loopback(request, **_kwargs):
        parts = urllib.parse.urlsplit(request.url)
        request.headers['Host'] = parts.netloc
        sent.append(parts.netloc)
        request.url = parts._replace(netloc='127.0.0.1:8080').geturl()
    s3v.meta.events.register('before-send.s3', to_loopback)
    conn.put_object(container, 'o', DATA)
    resp = call(s3v, 'GetObject', {'X-Run-Storlet': 'metadata_setter.py'},
                Bucket=container, Key='o')
    assert resp['Body'].read() == DATA
    assert resp['Metadata'] == {'color': 'blue'}
    call(s3v, 'PutObject', {'X-Run-Storlet': 'metadata_setter.py'},
         Bucket=container, Key='put', Body=DATA)
    assert conn.get_object(container, 'put')[0]['x-object-meta-color'] == \
        'blue'
    assert set(sent) == {'%s.localhost:8080' % container}


def test_readme_snippet_verbatim():
    quick_start = blocks(section('Quick start (Debian 12, as root)'), 'sh')[1]
    assert run(quick_start, REPO).returncode == 0    # mycontainer/myobject
    [snippet] = blocks(section('S3 clients'), 'python')
    result = subprocess.run([sys.executable, '-c', snippet], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'Hello from storlets!\\n'\n"
