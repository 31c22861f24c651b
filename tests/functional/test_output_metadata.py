"""A storlet's output metadata on every path, against the all-in-one.

``set_metadata.py`` sets exactly the metadata given (as JSON) in a parameter.
Metadata HTTP or Swift cannot carry is the storlet's failure on a GET (object
server or proxy), a PUT and both forms of copy: the usual failure status,
nothing stored, the storlet ran once (one failure logged for the request's
transaction on all the servers' logs; the source read once by an object
server), and no object server error counted by the proxy (a burst of bad PUTs does not get the object servers error-limited
for everybody). Unicode values are stored as if the user had set them.
Client header values that are not UTF-8 are a 400 with a body.
"""
import http.client
import json
import os
import time
import uuid
from urllib.parse import quote, urlparse

import pytest

from tests.functional.conftest import connection, deploy

STORLET = 'set_metadata.py'
FAILED = b'Storlet execution failed'
LOG_DIR = os.environ.get('STORLETS_AIO_LOG_DIR', '/var/log/storlets-aio')
PROXY_LOG = os.path.join(LOG_DIR, 'proxy-server.log')
SERVER_LOGS = [PROXY_LOG] + [
    os.path.join(LOG_DIR, 'node%d' % i, 'object-server.log') for i in (1, 2, 3)]
ERROR_LINES = ('Node will be error limited', 'ERROR with Object server')


class Client:
    """Raw HTTP to the proxy: bytes in headers, every status returned."""

    def __init__(self, conn):
        url, self.token = conn.get_auth()
        parsed = urlparse(url)
        self.host, self.port, self.path = (parsed.hostname, parsed.port,
                                           parsed.path)

    def request(self, method, path, headers=None, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            c.putrequest(method, self.path + '/' + quote(path),
                         skip_accept_encoding=True)
            c.putheader('X-Auth-Token', self.token)
            headers = dict(headers or {})
            if method in ('PUT', 'POST'):
                headers.setdefault('Content-Length', str(len(body or b'')))
            for name, value in headers.items():
                c.putheader(name, value)
            c.endheaders(body)
            resp = c.getresponse()
            # raw header bytes, as the proxy sent them
            return (resp.status, {k.lower(): v.encode('latin1')
                                  for k, v in resp.getheaders()},
                    resp.read())
        finally:
            c.close()


@pytest.fixture(scope='module')
def client(conn):
    deploy(conn, STORLET, 'set_metadata.SetMetadataStorlet')
    return Client(conn)


def storlet_headers(meta):
    return {'X-Run-Storlet': STORLET,
            'X-Storlet-Parameter-1': 'meta:' + quote(json.dumps(meta))}


# name: (method, path, extra headers, body, failure status); {c} = container
FLOWS = {
    'get-object': ('GET', '{c}/src', {}, None, 503),
    'get-proxy': ('GET', '{c}/src', {'X-Storlet-Run-On-Proxy': ''}, None,
                  503),
    'put': ('PUT', '{c}/dst', {}, b'data', 500),
    'x-copy-from': ('PUT', '{c}/dst', {'X-Copy-From': '{c}/src'}, b'', 500),
    'copy': ('COPY', '{c}/src', {'Destination': '{c}/dst'}, None, 500),
}


def run(client, container, flow, meta):
    method, path, extra, body, _ = FLOWS[flow]
    headers = storlet_headers(meta)
    headers.update({k: v.format(c=container) for k, v in extra.items()})
    return client.request(method, path.format(c=container), headers, body)


def log_lines(txn, *needles):
    """Lines of every server log for transaction ``txn`` holding all of
    ``needles`` (waiting a little for them to be written)."""
    found = []
    for _ in range(20):
        found = []
        for path in SERVER_LOGS:
            with open(path, 'rb') as log:
                found += [line for line in log.read().decode(
                    'utf-8', 'replace').splitlines()
                    if txn in line and all(n in line for n in needles)]
        if found:
            break
        time.sleep(0.1)
    return found


def failed_runs(txn):
    return len(log_lines(txn.decode(), 'storlet %s failed' % STORLET))


def source_reads(txn, container):
    """Object servers' GETs of ``src`` for ``txn`` (a retry would add):
    their access lines name the device, ``"GET /d<N>/<partition>/...``."""
    return len(log_lines(txn.decode(), '"GET /d',
                         '/%s/src"' % container))


def absent(client, container, obj):
    return client.request('HEAD', '%s/%s' % (container, obj))[0] == 404


BAD = {
    'injected key': {'Foo\r\nX-Delete-At': '1'},
    'colon in key': {'a:b': 'v'},
    'crlf in value': {'k': 'line\r\nX-Injected: yes'},
    'crlf in content type': {'Content-Type': 'text/plain\r\nX-Delete-At: 1'},
    'nul in value': {'k': 'nul\x00'},
    'nul in key': {'k\x00': 'v'},
    'non-ascii key': {'ключ': 'v'},
    'reserved key': {'Storlet-Main': 'evil.Main'},
    'too long a value': {'k': 'v' * 257},
}


@pytest.mark.parametrize('flow', sorted(FLOWS))
@pytest.mark.parametrize('bad', sorted(BAD))
def test_bad_metadata_fails_the_storlet_once_storing_nothing(
        client, container, flow, bad):
    client.request('PUT', container + '/src', body=b'data')
    status, headers, body = run(client, container, flow, BAD[bad])
    assert (status, body) == (FLOWS[flow][4], FAILED)
    assert absent(client, container, 'dst')
    assert failed_runs(headers['x-trans-id']) == 1
    if flow != 'put':
        assert source_reads(headers['x-trans-id'], container) == 1


UNICODE = {'Color': '日本語', 'Emoji': 'ok 😀', 'Nel': 'ąĄ', 'Tab': 'a\tb',
           'Content-Type': 'text/x-storlet'}


def user_meta(headers):
    return {k: v for k, v in headers.items()
            if k.startswith('x-object-meta-') or k == 'content-type'}


@pytest.mark.parametrize('flow', sorted(FLOWS))
def test_unicode_metadata_round_trips(client, container, flow):
    # what a user gets setting the same metadata herself (swift post -m)
    reference = {('X-Object-Meta-' + k if k != 'Content-Type' else k):
                 v.encode('utf-8') for k, v in UNICODE.items()}
    assert client.request('PUT', container + '/ref', reference,
                          b'data')[0] == 201
    expected = user_meta(client.request('HEAD', container + '/ref')[1])
    assert expected['x-object-meta-color'] == '日本語'.encode('utf-8')
    client.request('PUT', container + '/src', body=b'data')
    status, headers, body = run(client, container, flow, UNICODE)
    txn = headers['x-trans-id']
    if flow != 'put':
        assert source_reads(txn, container) == 1
    if FLOWS[flow][0] == 'GET':
        assert (status, body) == (200, b'data')
        assert headers['x-storlet-executed'] == flow[len('get-'):].encode()
    else:
        assert status == 201, body
        headers = client.request('HEAD', container + '/dst')[1]
    assert user_meta(headers) == expected


def test_bad_put_burst_leaves_swift_serving_everybody(client, container):
    other = connection('tester2')
    other_container = 'functest-' + uuid.uuid4().hex[:10]
    other.put_container(other_container)
    try:
        other.put_object(other_container, 'o', b'theirs')
        with open(PROXY_LOG, 'rb') as log:
            log.seek(0, os.SEEK_END)
            start = log.tell()
        bad = [BAD['injected key'], BAD['colon in key'],
               BAD['crlf in content type'], {'k': '日本語\r\n'}]
        for i in range(30):
            status, _, body = run(client, container, 'put', bad[i % 4])
            assert (status, body) == (500, FAILED)
        for _ in range(5):
            assert other.get_object(other_container, 'o')[1] == b'theirs'
        time.sleep(0.5)   # let the proxy's log lines land
        with open(PROXY_LOG, 'rb') as log:
            log.seek(start)
            lines = log.read().decode('utf-8', 'replace').splitlines()
        errors = [line for line in lines
                  if any(e in line for e in ERROR_LINES)]
        assert errors == []
        assert absent(client, container, 'dst')
    finally:
        other.delete_object(other_container, 'o')
        other.delete_container(other_container)


@pytest.mark.parametrize('name,value', [
    ('X-Run-Storlet', b'identity\xff.py'),
    ('X-Storlet-Parameter-1', b'k:\xff'),
    ('X-Storlet-Range', b'bytes=1-2\xff'),
    ('X-Storlet-Extra-Resources', b'c/\xff'),
])
def test_non_utf8_header_is_400_with_a_body(client, container, name, value):
    client.request('PUT', container + '/src', body=b'data')
    headers = {'X-Run-Storlet': 'identity.py', name: value}
    status, _, body = client.request('GET', container + '/src', headers)
    assert status == 400
    assert body == name.encode() + b' header is not valid UTF-8'


def test_non_utf8_copy_source_is_400(client, container):
    status, _, body = client.request(
        'PUT', container + '/dst', {'X-Run-Storlet': 'identity.py',
                                    'X-Copy-From': b'c/\xff'}, b'')
    assert (status, body) == (400, b'X-Copy-From header is not valid UTF-8')
    assert absent(client, container, 'dst')
