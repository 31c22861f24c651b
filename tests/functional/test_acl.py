"""Storlet ACLs (docs/api.md, "Storlet ACLs"): a user who cannot read a container
may read its objects only through the storlet the owner named for them."""
import http.client
import urllib.parse

import pytest
from swiftclient import ClientException

from tests.functional.conftest import connection

DATA = b'confidential rows, only readable through identity.py\n'
ENTRY = '.r:storlets.tester3_identity.py'


@pytest.fixture(scope='module')
def tester3(deployed):
    """tester3's connection. Running a storlet needs read access to the
    storlet object itself: the all-in-one grants test:tester3 read
    access to the storlet container, as upstream's devstack does, and
    ``conftest.promised_accounts`` makes sure it does."""
    c3 = connection('tester3')
    yield c3
    c3.close()


@pytest.fixture
def private(conn, container):
    """A container tester3 cannot read, holding object ``o``."""
    conn.put_object(container, 'o', DATA)
    return container


def read_acl(conn, container):
    return conn.head_container(container).get('x-container-read')


def set_storlet_acl(conn, container, user='tester3', storlet='identity.py'):
    conn.post_container(container, {'X-Storlet-Container-Read': user,
                                     'X-Storlet-Name': storlet})


def storlet_get(c, container, storlet, headers=None):
    h = {'X-Run-Storlet': storlet}
    h.update(headers or {})
    return c.get_object(container, 'o', headers=h)


def assert_refused(call, status=403):
    with pytest.raises(ClientException) as err:
        call()
    assert err.value.http_status == status
    assert DATA not in (err.value.http_response_content or b'')
    return err.value


def test_storlet_acl_grants_reads_through_that_storlet_only(conn, tester3,
                                                            private):
    assert_refused(lambda: storlet_get(tester3, private, 'identity.py'))

    set_storlet_acl(conn, private, 'tester3', 'identity.py')
    assert read_acl(conn, private) == ENTRY

    headers, body = storlet_get(tester3, private, 'identity.py')
    assert body == DATA
    assert headers['x-storlet-executed'] in ('object', 'proxy')
    # raw reads, other storlets, listings, metadata: still refused
    assert_refused(lambda: tester3.get_object(private, 'o'))
    assert_refused(lambda: tester3.head_object(private, 'o'))
    assert_refused(lambda: storlet_get(tester3, private, 'echo_params.py'))
    assert_refused(lambda: tester3.get_container(private))
    # nor may tester3 use the grant to write
    assert_refused(lambda: tester3.put_object(private, 'new', b'x'))


def test_storlet_acl_also_applies_when_run_on_proxy(conn, tester3, private):
    set_storlet_acl(conn, private, 'tester3', 'identity.py')
    headers, body = storlet_get(tester3, private, 'identity.py',
                                {'X-Storlet-Run-On-Proxy': ''})
    assert body == DATA
    assert headers['x-storlet-executed'] == 'proxy'


def test_account_user_form_works_too(conn, tester3, private):
    assert_refused(lambda: storlet_get(tester3, private, 'identity.py'))
    set_storlet_acl(conn, private, 'test:tester3', 'identity.py')
    assert read_acl(conn, private) == '.r:storlets.test:tester3_identity.py'
    _headers, body = storlet_get(tester3, private, 'identity.py')
    assert body == DATA
    assert_refused(lambda: tester3.get_object(private, 'o'))


def test_acl_for_another_user_does_not_grant(conn, tester3, private):
    set_storlet_acl(conn, private, 'tester4', 'identity.py')
    set_storlet_acl(conn, private, 'tester3', 'echo_params.py')
    assert_refused(lambda: storlet_get(tester3, private, 'identity.py'))


def test_entry_is_appended_once_and_keeps_the_existing_acl(conn, private):
    conn.post_container(private, {'X-Container-Read': 'test2:tester2'})
    set_storlet_acl(conn, private)
    set_storlet_acl(conn, private)
    entries = read_acl(conn, private).split(',')
    assert entries == ['test2:tester2', ENTRY]
    # a second user/storlet pair is appended after it
    set_storlet_acl(conn, private, 'tester3', 'echo_params.py')
    set_storlet_acl(conn, private, 'tester3', 'identity.py')
    entries = read_acl(conn, private).split(',')
    assert entries == ['test2:tester2', ENTRY,
                       '.r:storlets.tester3_echo_params.py']


def _raw(c, method, path, headers):
    url, token = c.get_auth()
    parsed = urllib.parse.urlparse(url)
    client = http.client.HTTPConnection(parsed.hostname, parsed.port,
                                        timeout=60)
    try:
        full = parsed.path + ('/' + path if path else '')
        client.request(method, full,
                       headers=dict(headers, **{'X-Auth-Token': token}))
        resp = client.getresponse()
        return resp.status, resp.read()
    finally:
        client.close()


@pytest.mark.parametrize('referer', [
    'http://storlets.tester3_identity.py/',
    'https://STORLETS.tester3_identity.py/page',
    'http://storlets.tester3_identity.py:80/',
    'http://someone@storlets.tester3_identity.py/',
], ids=['plain', 'upper-case', 'with-port', 'with-userinfo'])
@pytest.mark.parametrize('storlet', [None, 'identity.py', 'echo_params.py'],
                         ids=['raw', 'identity', 'other-storlet'])
def test_forged_storlet_referer_is_refused(conn, tester3, private, referer,
                                           storlet):
    set_storlet_acl(conn, private)
    headers = {'Referer': referer}
    if storlet:
        headers['X-Run-Storlet'] = storlet
    status, body = _raw(tester3, 'GET', '%s/o' % private, headers)
    assert status == 403
    assert body == b'Referrer containing storlets is not allowed'


@pytest.mark.parametrize('referer', [
    'http://storlets.tester3_identity.py/',
    'http://someone@storlets.tester3_identity.py/',
], ids=['plain', 'with-userinfo'])
def test_forged_storlet_referer_without_token_is_refused(conn, private,
                                                         referer):
    # The visible ACL entry must never act as a Swift referrer grant.
    set_storlet_acl(conn, private)
    url, _token = conn.get_auth()
    parsed = urllib.parse.urlparse(url)
    client = http.client.HTTPConnection(parsed.hostname, parsed.port,
                                        timeout=60)
    try:
        client.request('GET', '%s/%s/o' % (parsed.path, private),
                       headers={'Referer': referer})
        resp = client.getresponse()
        status, body = resp.status, resp.read()
    finally:
        client.close()
    assert status == 403
    assert body == b'Referrer containing storlets is not allowed'


def test_ordinary_referer_mentioning_storlets_is_allowed(conn, private):
    headers = {'Referer': 'https://example.com/storlets-docs'}
    status, body = _raw(conn, 'GET', '%s/o' % private, headers)
    assert (status, body) == (200, DATA)
    status, body = _raw(conn, 'GET', '%s/o' % private,
                        dict(headers, **{'X-Run-Storlet': 'identity.py'}))
    assert (status, body) == (200, DATA)


MISSING = b'storlet ACL update request is missing a mandatory header'
MALFORMED = (b'storlet ACL update request has mulformed storlet or user '
             b'name')
STORLET_CONTAINER = b'storlet ACL update cannot be a storlet container'
UNAUTHORIZED = b'Unauthorized to get or modify the container ACL'


@pytest.mark.parametrize('user,target,headers,status,body', [
    ('tester', 'storlet', {'X-Storlet-Container-Read': 'tester3',
                           'X-Storlet-Name': 'identity.py'},
     400, STORLET_CONTAINER),
    ('tester', 'dependency', {'X-Storlet-Container-Read': 'tester3',
                              'X-Storlet-Name': 'identity.py'},
     400, STORLET_CONTAINER),
    ('tester', '{c}', {'X-Storlet-Container-Read': 'tester3'}, 400, MISSING),
    ('tester', '{c}', {'X-Storlet-Container-Read': 'tester3',
                       'X-Storlet-Name': ''}, 400, MISSING),
    ('tester', '{c}', {'X-Storlet-Container-Read': '',
                       'X-Storlet-Name': 'identity.py'}, 400, MISSING),
    ('tester', '{c}', {'X-Storlet-Container-Read': 'tester3,tester',
                       'X-Storlet-Name': 'identity.py'}, 400, MALFORMED),
    ('tester', '{c}', {'X-Storlet-Container-Read': 'tester3',
                       'X-Storlet-Name': 'identity.py,echo_params.py'},
     400, MALFORMED),
    ('tester3', '{c}', {'X-Storlet-Container-Read': 'tester3',
                        'X-Storlet-Name': 'identity.py'}, 401, UNAUTHORIZED),
    ('tester', 'no-such-container-{c}', {
        'X-Storlet-Container-Read': 'tester3',
        'X-Storlet-Name': 'identity.py'}, 401, UNAUTHORIZED),
    ('tester', '', {'X-Storlet-Container-Read': 'tester3',
                    'X-Storlet-Name': 'identity.py'}, 400, None),
], ids=['storlet-container', 'dependency-container', 'no-name',
        'empty-name', 'empty-user', 'two-users', 'two-storlets',
        'member-cannot-set', 'no-such-container', 'account-level'])
def test_invalid_acl_post_is_refused_and_changes_nothing(
        conn, tester3, private, user, target, headers, status, body):
    conn.post_container(private, {'X-Container-Read': 'test2:tester2'})
    watched = ['storlet', 'dependency', private]
    before = {c: conn.head_container(c).get('x-container-read')
              for c in watched}
    headers = dict(headers, **{'X-Container-Meta-Acl-Test': 'touched',
                               'X-Account-Meta-Acl-Test': 'touched'})
    c = tester3 if user == 'tester3' else conn
    got_status, got_body = _raw(c, 'POST', target.format(c=private), headers)
    assert got_status == status
    if body is not None:
        assert got_body == body
    after = {c: conn.head_container(c).get('x-container-read')
             for c in watched}
    assert after == before
    for name in watched:
        assert 'x-container-meta-acl-test' not in conn.head_container(name)
    assert 'x-account-meta-acl-test' not in conn.head_account()
    # and tester3 still cannot read through the storlet
    assert_refused(lambda: storlet_get(tester3, private, 'identity.py'))
    if target.startswith('no-such-container'):
        with pytest.raises(ClientException) as err:
            conn.head_container(target.format(c=private))
        assert err.value.http_status == 404


@pytest.fixture(autouse=True, scope='module')
def _no_account_meta_left(conn):
    yield
    conn.post_account({'X-Remove-Account-Meta-Acl-Test': '1'})


def test_bare_user_name_grants_only_a_user_of_the_containers_account(
        conn, private):
    """``tester2`` names a user of this account: test2:tester2 (another
    account's namesake) is not granted by it, only by ``test2:tester2``."""
    import swiftclient
    from tests.functional.conftest import metadata_as, reader
    c2 = connection('tester2')
    _, token = c2.get_auth()
    url = conn.get_auth()[0]      # AUTH_test's storage URL, tester2's token

    def get(storlet=None):
        headers = {'X-Run-Storlet': storlet} if storlet else {}
        return swiftclient.client.get_object(url, token, private, 'o',
                                             headers=headers)
    try:
        with metadata_as(lambda: conn.head_container('storlet'),
                         lambda h: conn.post_container('storlet', h),
                         {'X-Container-Read': reader('test2:tester2')}):
            set_storlet_acl(conn, private, 'tester2', 'identity.py')
            assert_refused(lambda: get('identity.py'))
            set_storlet_acl(conn, private, 'test2:tester2', 'identity.py')
            assert get('identity.py')[1] == DATA
            assert_refused(get)
    finally:
        c2.close()
