"""X-Storlet-Range: the storlet's input is that part of the object."""
import pytest
from swiftclient import ClientException

from tests.functional.conftest import storlet_get

DATA = b'0123456789abcdefghij'   # 20 bytes


@pytest.mark.parametrize('value,expected,input_range', [
    ('bytes=2-5', b'2345', 'bytes 2-5/20'),
    ('bytes=15-', b'fghij', 'bytes 15-19/20'),
    ('bytes=-3', b'hij', 'bytes 17-19/20'),
    ('bytes=18-40', b'ij', 'bytes 18-19/20'),
    ('bytes=0-0', b'0', 'bytes 0-0/20'),
])
def test_single_ranges(conn, deployed, container, placement, value, expected,
                       input_range):
    conn.put_object(container, 'o', DATA)
    headers, body = storlet_get(conn, container, 'o', 'identity.py',
                                dict(placement, **{'X-Storlet-Range': value}))
    assert body == expected
    assert headers['storlet-input-range'] == input_range
    assert 'content-range' not in headers
    expected_place = 'proxy' if placement else 'object'
    assert headers['x-storlet-executed'] == expected_place


def test_multi_range_runs_on_proxy_over_multipart(conn, deployed, container):
    conn.put_object(container, 'o', DATA)
    headers, body = storlet_get(conn, container, 'o', 'identity.py',
                                {'X-Storlet-Range': 'bytes=0-1,5-6'})
    assert headers['x-storlet-executed'] == 'proxy'
    assert b'01' in body and b'56' in body
    assert headers['content-type'].startswith('multipart/byteranges')


@pytest.mark.parametrize('value', ['bytes=30-40', 'bytes=20-'])
def test_unsatisfiable_range_is_416(conn, deployed, container, placement,
                                    value):
    conn.put_object(container, 'o', DATA)
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'identity.py',
                    dict(placement, **{'X-Storlet-Range': value}))
    assert err.value.http_status == 416


@pytest.mark.parametrize('value', ['garbage', 'bytes=5-2', 'bytes=a-b',
                                   'items=1-2'])
def test_unparsable_range_is_400(conn, deployed, container, value):
    conn.put_object(container, 'o', DATA)
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'identity.py',
                    {'X-Storlet-Range': value})
    assert err.value.http_status == 400
    assert b'X-Storlet-Range' in err.value.http_response_content


def test_range_with_x_run_storlet_is_400(conn, deployed, container):
    conn.put_object(container, 'o', DATA)
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'identity.py',
                    {'Range': 'bytes=1-2'})
    assert err.value.http_status == 400
    assert err.value.http_response_content == \
        b'Storlet execution with range header is not supported'


def test_large_object_range_on_object_server(conn, deployed, container):
    data = bytes(range(256)) * 40000        # ~10 MB
    conn.put_object(container, 'big', data)
    start, end = 1234567, 7654321
    headers, body = storlet_get(conn, container, 'big', 'identity.py', {
        'X-Storlet-Range': 'bytes=%d-%d' % (start, end)})
    assert body == data[start:end + 1]
    assert headers['x-storlet-executed'] == 'object'
