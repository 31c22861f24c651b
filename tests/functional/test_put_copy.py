"""PUT and copy with X-Run-Storlet: what is stored is the storlet's output."""
import hashlib
import os

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
