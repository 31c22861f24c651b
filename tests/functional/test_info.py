"""/info capabilities and the listings of the storlet and dependency
containers, as a client sees them."""
import http.client
import json
import urllib.parse
import uuid

import pytest
from swiftclient import ClientException

from tests.functional.conftest import deploy

INFO_URL = 'http://127.0.0.1:8080/info'


def test_info_publishes_storlet_handler(conn):
    info = conn.get_capabilities(INFO_URL)
    handler = info['storlet_handler']
    assert handler['storlet_container'] == 'storlet'
    assert handler['storlet_dependency'] == 'dependency'
    assert handler['storlet_logcontainer'] == 'storletlog'
    assert handler['storlet_gateway_class'] == 'DockerStorletGateway'
    assert isinstance(handler['max_extra_resources'], int)
    # the all-in-one sets -1: the engine's limit (one SBus message's fds)
    assert handler['max_extra_resources'] == 60
    assert isinstance(handler['languages'], list)
    assert sorted(lang.lower() for lang in handler['languages']) == [
        'java', 'python']
    assert handler['interface_version'] == '1.0'


def test_info_is_public():
    # No token: /info must answer anyone, and still carry storlet_handler.
    client = http.client.HTTPConnection('127.0.0.1', 8080, timeout=30)
    try:
        client.request('GET', '/info')
        resp = client.getresponse()
        body = resp.read()
    finally:
        client.close()
    assert resp.status == 200
    assert json.loads(body)['storlet_handler']['storlet_container'] == \
        'storlet'


def _raw_listing(conn, container, query=''):
    url, token = conn.get_auth()
    parsed = urllib.parse.urlparse(url)
    client = http.client.HTTPConnection(parsed.hostname, parsed.port,
                                        timeout=30)
    try:
        client.request('GET', '%s/%s%s' % (parsed.path, container, query),
                       headers={'X-Auth-Token': token})
        resp = client.getresponse()
        return resp.status, resp.getheader('Content-Type'), resp.read()
    finally:
        client.close()


@pytest.fixture
def uploaded(conn):
    """A freshly uploaded storlet and dependency, deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    module = 'listed%s' % suffix
    storlet = deploy(conn, None, '%s.ListedStorlet' % module,
                     name='%s.py' % module,
                     source=b'class ListedStorlet(object):\n    pass\n')
    dependency = 'listed-dep-%s.txt' % suffix
    conn.put_object('dependency', dependency, b'dependency data',
                    headers={'X-Object-Meta-Storlet-Dependency-Version': '1'})
    yield storlet, dependency
    for container, name in (('storlet', storlet),
                            ('dependency', dependency)):
        try:
            conn.delete_object(container, name)
        except ClientException as err:
            if err.http_status != 404:
                raise


@pytest.mark.parametrize('which', [0, 1], ids=['storlet', 'dependency'])
def test_listing_plain_text_one_name_per_line(conn, uploaded, which):
    container = ('storlet', 'dependency')[which]
    status, ctype, body = _raw_listing(conn, container)
    assert status == 200
    assert ctype.split(';')[0].strip() == 'text/plain'
    names = body.decode('utf-8').splitlines()
    assert uploaded[which] in names
    assert names == sorted(names)
    assert all(name and name == name.strip() for name in names)


@pytest.mark.parametrize('which', [0, 1], ids=['storlet', 'dependency'])
def test_listing_json(conn, uploaded, which):
    container = ('storlet', 'dependency')[which]
    status, ctype, body = _raw_listing(conn, container, '?format=json')
    assert status == 200
    assert ctype.split(';')[0].strip() == 'application/json'
    entries = {e['name']: e for e in json.loads(body)}
    entry = entries[uploaded[which]]
    expected_size = len(b'class ListedStorlet(object):\n    pass\n') \
        if which == 0 else len(b'dependency data')
    assert entry['bytes'] == expected_size
    assert entry['hash'] and entry['last_modified']


def test_listing_shows_the_deployed_test_storlets(conn, deployed):
    _headers, listing = conn.get_container('storlet', full_listing=True)
    names = {e['name'] for e in listing}
    assert {'identity.py', 'echo_params.py', 'broken.py'} <= names
