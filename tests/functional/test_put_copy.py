"""PUT and copy with X-Run-Storlet: what is stored is the storlet's output."""
import hashlib
import os
from urllib.parse import quote

import pytest
from swiftclient import ClientException

from tests.functional.conftest import object_absent, storlet_get

TEXT = b'abc\ndef\nghij\n'


def test_put_stores_the_output_with_its_metadata(conn, deployed, container):
    conn.put_object(container, 'o', TEXT, headers={
        'X-Run-Storlet': 'reverse_lines.py', 'X-Object-Meta-Kept': 'yes',
        'X-Storlet-Parameter-1': 'k:v'})
    headers, body = conn.get_object(container, 'o')
    assert body == b'cba\nfed\njihg\n'
    assert headers['x-object-meta-transformed'] == 'yes'
    assert headers['x-object-meta-kept'] == 'yes'
    assert headers['etag'] == hashlib.md5(body).hexdigest()


def test_put_with_client_etag_of_the_input_is_not_refused(conn, deployed,
                                                          container):
    conn.put_object(container, 'o', TEXT, etag=hashlib.md5(TEXT).hexdigest(),
                    headers={'X-Run-Storlet': 'reverse_lines.py'})
    assert conn.get_object(container, 'o')[1] == b'cba\nfed\njihg\n'


@pytest.mark.parametrize('size', [10 * 1024 * 1024])
def test_large_put_streams_through_identity(conn, deployed, container, size):
    data = os.urandom(size)
    conn.put_object(container, 'big', data,
                    headers={'X-Run-Storlet': 'identity.py'})
    headers, body = conn.get_object(container, 'big')
    assert len(body) == size and body == data


def test_chunked_put(conn, deployed, container):
    chunks = (b'line %d\n' % i for i in range(1000))
    conn.put_object(container, 'o', chunks,
                    headers={'X-Run-Storlet': 'identity.py'})
    body = conn.get_object(container, 'o')[1]
    assert body == b''.join(b'line %d\n' % i for i in range(1000))


@pytest.mark.parametrize('storlet,body', [
    ('broken.py', b'Storlet execution failed'),
    ('fail_after_output.py', b'Storlet execution failed'),
])
def test_failing_put_stores_nothing(conn, deployed, container, storlet,
                                    body):
    headers = {'X-Run-Storlet': storlet,
               'X-Storlet-Parameter-1': 'size:%d' % (3 * 1024 * 1024)}
    with pytest.raises(ClientException) as err:
        conn.put_object(container, 'o', TEXT * 1000, headers=headers)
    assert err.value.http_status == 500
    assert err.value.http_response_content == body
    assert object_absent(conn, container, 'o')


@pytest.mark.parametrize('form', ['x-copy-from', 'COPY'])
def test_copy_stores_transformed_source(conn, deployed, container, placement,
                                        form):
    conn.put_object(container, 'src', TEXT, headers={
        'X-Object-Meta-Origin': 'source'})
    headers = dict(placement, **{'X-Run-Storlet': 'reverse_lines.py'})
    if form == 'COPY':
        resp = {}
        conn.copy_object(container, 'src', '/%s/dst' % container,
                         headers=headers, response_dict=resp)
    else:
        resp = {}
        conn.put_object(container, 'dst', None, headers=dict(
            headers, **{'X-Copy-From': '%s/src' % container}),
            response_dict=resp)
    assert resp['status'] == 201
    got = resp['headers']
    assert got['x-storlet-generated-from'] == '%s/src' % container
    assert got['x-storlet-generated-from-account'] == 'AUTH_test'
    assert 'x-storlet-generated-from-last-modified' in got
    headers, body = conn.get_object(container, 'dst')
    assert body == b'cba\nfed\njihg\n'
    assert headers['x-object-meta-origin'] == 'source'
    assert headers['x-object-meta-transformed'] == 'yes'
    assert 'x-object-meta-x-timestamp' not in headers
    # the source is untouched
    assert conn.get_object(container, 'src')[1] == TEXT


def test_copy_from_missing_source_stores_nothing(conn, deployed, container):
    with pytest.raises(ClientException) as err:
        conn.put_object(container, 'dst', None, headers={
            'X-Run-Storlet': 'identity.py',
            'X-Copy-From': '%s/nothere' % container})
    assert err.value.http_status == 404
    assert object_absent(conn, container, 'dst')


def test_failing_copy_stores_nothing(conn, deployed, container, placement):
    conn.put_object(container, 'src', TEXT)
    with pytest.raises(ClientException) as err:
        conn.put_object(container, 'dst', None, headers=dict(placement, **{
            'X-Run-Storlet': 'broken.py',
            'X-Copy-From': '%s/src' % container}))
    assert err.value.http_status == 500
    assert err.value.http_response_content == b'Storlet execution failed'
    assert object_absent(conn, container, 'dst')


@pytest.mark.parametrize('header', ['X-Copy-From-Account', 'X-Fresh-Metadata'])
def test_unsupported_copy_headers(conn, deployed, container, header):
    conn.put_object(container, 'src', TEXT)
    with pytest.raises(ClientException) as err:
        conn.put_object(container, 'dst', None, headers={
            'X-Run-Storlet': 'identity.py',
            'X-Copy-From': '%s/src' % container, header: 'x'})
    assert err.value.http_status == 400
    assert err.value.http_response_content == (
        'Storlet on copy with %s is not supported' % header).encode()
    assert object_absent(conn, container, 'dst')


def test_get_after_put_runs_again(conn, deployed, container, placement):
    conn.put_object(container, 'o', TEXT,
                    headers={'X-Run-Storlet': 'reverse_lines.py'})
    _, body = storlet_get(conn, container, 'o', 'reverse_lines.py',
                          placement)
    assert body == TEXT


def _proxy_worker_rss():
    """RSS (KiB) of each proxy worker of the all-in-one, by pid."""
    with open('/var/run/storlets-aio/proxy-server.pid') as f:
        parent = int(f.read().split()[0])
    rss = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/status' % pid) as f:
                status = dict(line.split(':', 1) for line in f)
        except OSError:
            continue
        if int(status['PPid']) == parent:
            rss[int(pid)] = int(status['VmRSS'].split()[0])
    return rss


def test_512mib_put_streams_with_flat_memory(conn, deployed, container):
    import threading
    block = hashlib.sha256(b'seed').digest() * 2048      # 64 KiB
    count = 512 * 16                                     # 512 MiB
    md5 = hashlib.md5()
    for _ in range(count):
        md5.update(block)
    before = _proxy_worker_rss()
    peak = dict(before)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid, rss in _proxy_worker_rss().items():
                peak[pid] = max(peak.get(pid, 0), rss)
            done.wait(0.2)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        conn.put_object(container, 'huge', (block for _ in range(count)),
                        headers={'X-Run-Storlet': 'identity.py'})
    finally:
        done.set()
        sampler.join()
    headers = conn.head_object(container, 'huge')
    assert int(headers['content-length']) == len(block) * count
    assert headers['etag'] == md5.hexdigest()
    growth = max(peak[pid] - before.get(pid, peak[pid]) for pid in peak)
    assert growth < 64 * 1024, 'a proxy worker grew by %d KiB' % growth


@pytest.mark.parametrize('name', ['with space', 'pct%41sign', 'ünï/cödé'])
def test_odd_object_names(conn, deployed, container, placement, name):
    conn.put_object(container, name, TEXT,
                    headers={'X-Run-Storlet': 'reverse_lines.py'})
    assert conn.get_object(container, name)[1] == b'cba\nfed\njihg\n'
    _, body = storlet_get(conn, container, name, 'reverse_lines.py',
                          placement)
    assert body == TEXT
    conn.put_object(container, name + '.copy', None, headers=dict(
        placement, **{'X-Run-Storlet': 'identity.py',
                      'X-Copy-From': quote('%s/%s' % (container, name))}))
    assert conn.get_object(container, name + '.copy')[1] == \
        b'cba\nfed\njihg\n'
    # COPY: the source is the request path itself (decoded once)
    conn.copy_object(container, name, '/%s/%s.copy2' % (container, name),
                     headers=dict(placement, **{'X-Run-Storlet':
                                                'identity.py'}))
    assert conn.get_object(container, name + '.copy2')[1] == \
        b'cba\nfed\njihg\n'
