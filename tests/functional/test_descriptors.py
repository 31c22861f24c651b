"""What a storlet can learn through its descriptors: nothing the API hides.

The probe (storlets/hostile/fdprobe.py) asks each of its descriptors
(0..1023) for xattrs, its /proc/self/fd link, fstat, lseek and a pread at 0.
Run on the object server and on the proxy, with an X-Storlet-Range, on an
object whose metadata a POST replaced: it must find no Swift xattr (the
removed metadata, X-Delete-At), no host path, no file of the object's full
size and no byte outside the range. An object written through the
encrypting proxy runs on the proxy, even with a zero-byte body (no body
crypto header), and the storlet sees no crypto value.
"""
import json
import os
import uuid

import pytest
import swiftclient

from tests.functional.conftest import AUTH, STORLETS_DIR, deploy

PROBE = 'functest_fdprobe.py'
BEFORE = b'<outside-before>'
AFTER = b'<outside-after>'
INSIDE = b'[inside the range]'
#: links a descriptor may show: nothing that names a file on the host
HARMLESS_LINKS = ('pipe:', 'socket:', 'anon_inode:', '/dev/null')
#: the kernel's own name for a socket's protocol (e.g. UNIX): no data
SOCKET_XATTRS = ('system.sockprotoname',)


def allowed_xattrs(link):
    return SOCKET_XATTRS if link.startswith('socket:') else ()


@pytest.fixture(scope='module')
def probe(conn):
    with open(os.path.join(STORLETS_DIR, 'hostile', 'fdprobe.py'),
              'rb') as f:
        deploy(conn, None, 'functest_fdprobe.FdProbeStorlet', name=PROBE,
               source=f.read())
    yield PROBE
    conn.delete_object('storlet', PROBE)


def run_probe(conn, container, obj, headers):
    h = {'X-Run-Storlet': PROBE}
    h.update(headers)
    resp_headers, body = conn.get_object(container, obj, headers=h)
    return resp_headers, json.loads(body), body.decode('utf-8')


def assert_descriptors_reveal_nothing(report, text, object_size):
    # /proc/self/mountinfo names Docker's overlay directories: Docker's,
    # not a descriptor's (see the agent's docstring), so not checked here
    report = dict(report, mountinfo=None)
    text = json.dumps(report)
    for fd, found in report['fds'].items():
        link = found['link'].get('ok', '')
        assert link.startswith(HARMLESS_LINKS), (fd, found)
        assert not found['regular'], (fd, found)
        allowed = allowed_xattrs(link)
        assert set(found['listxattr'].get('ok', [])) <= set(allowed), (
            fd, found)
        assert set(found['getxattr']) <= set(allowed), (fd, found)
        if object_size:
            assert found['size'] != object_size, (fd, found)
    for needle in ('/srv/', 'overlay', 'swift.metadata', 'Sysmeta',
                   'sysmeta', 'X-Delete-At', 'Crypto'):
        assert needle not in text, needle


@pytest.mark.parametrize('where', ['object', 'proxy'])
def test_descriptors_show_only_the_range(conn, container, probe, where):
    data = BEFORE * 4096 + INSIDE + AFTER * 4096
    start = len(BEFORE) * 4096
    end = start + len(INSIDE) - 1
    conn.put_object(container, 'o', data, headers={
        'X-Object-Meta-Removed': 'removed-by-post',
        'X-Delete-At': '9999999999'})
    conn.post_object(container, 'o', headers={
        'X-Object-Meta-Kept': 'kept-value'})
    headers = {'X-Storlet-Range': 'bytes=%d-%d' % (start, end)}
    if where == 'proxy':
        headers['X-Storlet-Run-On-Proxy'] = ''
    resp_headers, report, text = run_probe(conn, container, 'o', headers)
    assert resp_headers['x-storlet-executed'] == where
    assert report['input'] == INSIDE.decode()
    assert 'kept-value' in report['metadata'].values()
    assert 'removed-by-post' not in text
    assert 'outside' not in text
    assert_descriptors_reveal_nothing(report, text, len(data))
    print('\n%s: descriptors %s' % (where, {
        fd: found['link'].get('ok') for fd, found in report['fds'].items()}))


def test_a_zero_byte_encrypted_object_runs_on_the_proxy(conn, container,
                                                        probe):
    url = os.environ.get('STORLETS_ENCRYPTED_PROXY')
    assert url, 'the all-in-one must provide an encrypting proxy'
    enc = swiftclient.Connection(AUTH.replace('http://127.0.0.1:8080', url),
                                 'test:tester', 'testing', retries=0)
    secret = 'crypt-' + uuid.uuid4().hex
    enc.put_object(container, 'empty', b'', headers={
        'X-Object-Meta-Secret': secret})
    try:
        resp_headers, report, text = run_probe(enc, container, 'empty', {})
        assert resp_headers['x-storlet-executed'] == 'proxy'
        assert report['input'] == ''
        # what the API shows, decrypted, and nothing more
        assert secret in report['metadata'].values()
        assert_descriptors_reveal_nothing(report, text, 0)
    finally:
        enc.delete_object(container, 'empty')
        enc.close()
