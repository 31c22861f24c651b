"""X-Storlet-Extra-Resources: more input objects, in header order."""
import pytest
from swiftclient import ClientException

from tests.functional.conftest import connection, object_absent, storlet_get


@pytest.fixture
def objects(conn, container):
    conn.put_object(container, 'a', b'AAA', headers={'X-Object-Meta-A': '1'})
    conn.put_object(container, 'b', b'BBB', headers={'X-Object-Meta-B': '2'})
    conn.put_object(container, 'c', b'CCC', headers={'X-Object-Meta-A': '3'})
    return container


@pytest.mark.parametrize('form', ['/{c}/b,/{c}/c', '{c}/b, {c}/c'])
def test_get_with_extra_resources(conn, deployed, objects, placement, form):
    headers, body = storlet_get(conn, objects, 'a', 'multi_input.py', dict(
        placement, **{'X-Storlet-Extra-Resources': form.format(c=objects)}))
    assert body == b'AAABBBCCC'
    assert headers['x-object-meta-inputs'] == '3'
    assert headers['x-object-meta-a'] == '3'      # later inputs win
    assert headers['x-object-meta-b'] == '2'
    assert headers['x-storlet-executed'] == 'proxy'


def test_put_with_extra_resources(conn, deployed, objects):
    conn.put_object(objects, 'new', b'NEW', headers={
        'X-Run-Storlet': 'multi_input.py',
        'X-Storlet-Extra-Resources': '/%s/b' % objects})
    assert conn.get_object(objects, 'new')[1] == b'NEWBBB'


def test_copy_with_extra_resources(conn, deployed, objects):
    conn.put_object(objects, 'dst', None, headers={
        'X-Run-Storlet': 'multi_input.py', 'X-Copy-From': '%s/a' % objects,
        'X-Storlet-Extra-Resources': '/%s/c' % objects})
    assert conn.get_object(objects, 'dst')[1] == b'AAACCC'


def test_missing_extra_resource_fails_before_the_storlet(conn, deployed,
                                                         objects):
    with pytest.raises(ClientException) as err:
        storlet_get(conn, objects, 'a', 'multi_input.py', {
            'X-Storlet-Extra-Resources': '/%s/nothere' % objects})
    assert err.value.http_status == 404
    assert b'nothere' in err.value.http_response_content


def test_missing_extra_resource_on_put_stores_nothing(conn, deployed,
                                                      objects):
    with pytest.raises(ClientException) as err:
        conn.put_object(objects, 'new', b'NEW', headers={
            'X-Run-Storlet': 'multi_input.py',
            'X-Storlet-Extra-Resources': '/%s/nothere' % objects})
    assert err.value.http_status == 404
    assert object_absent(conn, objects, 'new')


def test_forbidden_extra_resource(conn, deployed, objects):
    # tester3 may run storlets (the all-in-one lets members read the storlet
    # container) and read `objects`, but not the extra resource's container.
    private = objects + '-private'
    conn.put_container(private)
    conn.put_object(private, 'secret', b'SECRET')
    conn.post_container(objects, {'X-Container-Read': 'test:tester3'})
    try:
        conn3 = connection('tester3')
        with pytest.raises(ClientException) as err:
            storlet_get(conn3, objects, 'a', 'multi_input.py', {
                'X-Storlet-Extra-Resources': '/%s/secret' % private})
        assert err.value.http_status == 403
        assert b'secret' in err.value.http_response_content
        assert b'SECRET' not in err.value.http_response_content
    finally:
        conn.delete_object(private, 'secret')
        conn.delete_container(private)


@pytest.mark.parametrize('value', ['/onlycontainer', ',', '/c/', 'c'])
def test_malformed_extra_resources(conn, deployed, objects, value):
    with pytest.raises(ClientException) as err:
        storlet_get(conn, objects, 'a', 'multi_input.py', {
            'X-Storlet-Extra-Resources': value})
    assert err.value.http_status == 400
    assert err.value.http_response_content == (
        b'X-Storlet-Extra-Resource must be a csv with/container/object '
        b'format')
