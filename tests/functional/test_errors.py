"""The error catalogue (docs/api.md, "Errors"), as
one table: each bad request gets its exact status and body, and changes
nothing (no destination object stored, the source object untouched)."""
import http.client
import urllib.parse
import uuid

import pytest
from swiftclient import ClientException

from tests.functional.conftest import connection, deploy, storlet_headers

SFX = uuid.uuid4().hex[:8]
DATA = b'source object for the error table\n'
RUN = {'X-Run-Storlet': 'identity.py'}
BROKEN = {'X-Run-Storlet': 'broken.py'}
MISSING_STORLET = {'X-Run-Storlet': 'no-such-storlet-%s.py' % SFX}
UNAUTHORIZED_STORLET = (
    b'Failed to verify access to the storlet. Either the storlet does not '
    b'exist or you are not authorized to run the storlet.')
FAILED = b'Storlet execution failed'
RANGE = b'Storlet execution with range header is not supported'
RUN_ON_PROXY = b'X-Storlet-Run-On-Proxy header should be empty'
EXTRA = (b'X-Storlet-Extra-Resource must be a csv with/container/object '
         b'format')
REFERER = b'Referrer containing storlets is not allowed'
DISABLED = b'Account disabled for storlets'
COPY_FROM_FORM = (b'X-Copy-From header must be of the form <container name>/'
                  b'<object name>')
DESTINATION_FORM = (b'Destination header must be of the form <container '
                    b'name>/<object name>')
ACL_MISSING = b'storlet ACL update request is missing a mandatory header'
ACL_MALFORMED = (b'storlet ACL update request has mulformed storlet or user '
                 b'name')
ACL_STORLET_CONTAINER = b'storlet ACL update cannot be a storlet container'
ACL_UNAUTHORIZED = b'Unauthorized to get or modify the container ACL'
BAD_STORLET = 'badreg%s' % SFX          # a storlet name never stored
BAD_DEP = 'baddep-%s.txt' % SFX         # a dependency name never stored
POSTED = 'errpost%s' % SFX              # a storlet the table POSTs to


class Contains:
    """Expected body: contains ``text`` (case-insensitive).

    For errors whose exact body the contract leaves open but which must
    name the header or value at fault (the general rule of docs/api.md).
    """

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return 'Contains(%r)' % self.text


def bad_storlet_headers(drop=None, **extra):
    headers = storlet_headers('%s.BadStorlet' % BAD_STORLET)
    if drop:
        del headers['X-Object-Meta-Storlet-%s' % drop]
    headers.update({'X-Object-Meta-Storlet-%s' % k.replace('_', '-'): v
                    for k, v in extra.items()})
    return headers


def row(id, method, path, headers, status, body, dests=(), user='tester',
        data=None):
    """One request of the table.

    ``path`` is relative to the user's account; ``{c}`` is the table's
    container (in AUTH_test) and ``{c2}`` the one in AUTH_test2. ``dests``
    are objects (same account) that must not exist afterwards.
    """
    return pytest.param(user, method, path, headers, status, body,
                        tuple(dests), data, id=id)


def copy(**headers):
    return dict(RUN, **{'X-Copy-From': '{c}/o'}, **headers)


def copy_to(dest, storlet=RUN, **headers):
    return dict(storlet, Destination='{c}/%s' % dest, **headers)


ROWS = [
    # --- GET with a storlet: bad client input ------------------------------
    row('get-range-header', 'GET', '{c}/o', dict(RUN, Range='bytes=0-3'),
        400, RANGE),
    row('get-storlet-range-unparsable', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Range': 'bytes=abc'}), 400,
        Contains('X-Storlet-Range')),
    row('get-storlet-range-bad-unit', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Range': 'lines=1-2'}), 400,
        Contains('X-Storlet-Range')),
    row('get-empty-run-storlet', 'GET', '{c}/o', {'X-Run-Storlet': ''},
        400, Contains('X-Run-Storlet')),
    row('get-run-on-proxy-with-value', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Run-On-Proxy': 'true'}), 400, RUN_ON_PROXY),
    row('get-reserved-parameter-header', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Parameter-1': 'storlet_foo:1'}), 400,
        Contains('storlet_foo')),
    row('get-reserved-parameter-query', 'GET',
        '{c}/o?storlet_execution_path=%2Fetc', RUN, 400,
        Contains('storlet_execution_path')),
    row('get-parameter-without-colon', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Parameter-1': 'novalue'}), 400,
        Contains('X-Storlet-Parameter-1')),
    row('get-extra-resource-container-only', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Extra-Resources': '/{c}'}), 400, EXTRA),
    row('get-extra-resource-trailing-slash', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Extra-Resources': '/{c}/o,/{c}/'}), 400,
        EXTRA),
    row('get-extra-resource-no-container', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Extra-Resources': 'justanobject'}), 400,
        EXTRA),
    row('get-extra-resource-missing', 'GET', '{c}/o',
        dict(RUN, **{'X-Storlet-Extra-Resources': '/{c}/missing-%s' % SFX}),
        404, Contains('missing-%s' % SFX)),
    row('get-storlet-does-not-exist', 'GET', '{c}/o', MISSING_STORLET, 401,
        UNAUTHORIZED_STORLET),
    row('get-storlet-fails', 'GET', '{c}/o', BROKEN, 503, FAILED),
    row('get-storlet-fails-on-proxy', 'GET', '{c}/o',
        dict(BROKEN, **{'X-Storlet-Run-On-Proxy': ''}), 503, FAILED),
    # --- forged storlet referrers --------------------------------------------
    row('referer-object-get', 'GET', '{c}/o',
        {'Referer': 'http://storlets.example.com/'}, 403, REFERER),
    row('referer-container-get', 'GET', '{c}',
        {'Referer': 'https://storlets.tester3_identity.py/x'}, 403, REFERER),
    row('referer-storlet-get', 'GET', '{c}/o',
        dict(RUN, Referer='http://storlets.tester_identity.py/'), 403,
        REFERER),
    row('referer-object-head', 'HEAD', '{c}/o',
        {'Referer': 'http://storlets.example.com/'}, 403, None),
    # --- methods that cannot run a storlet -----------------------------------
    row('post-object-with-run-storlet', 'POST', '{c}/o',
        dict(RUN, **{'X-Object-Meta-Touched': 'yes'}), 405, None),
    row('head-with-run-storlet', 'HEAD', '{c}/o', RUN, 405, None),
    row('delete-with-run-storlet', 'DELETE', '{c}/o', RUN, 405, None),
    row('options-with-run-storlet', 'OPTIONS', '{c}/o', RUN, 405, None),
    # --- PUT with a storlet ----------------------------------------------------
    row('put-storlet-does-not-exist', 'PUT', '{c}/dest-put-missing',
        MISSING_STORLET, 401, UNAUTHORIZED_STORLET, ['{c}/dest-put-missing'],
        data=b'upload'),
    row('put-storlet-fails', 'PUT', '{c}/dest-put-broken', BROKEN, 500,
        FAILED, ['{c}/dest-put-broken'], data=b'upload'),
    row('put-extra-resource-missing', 'PUT', '{c}/dest-put-extra',
        dict(RUN, **{'X-Storlet-Extra-Resources': '/{c}/missing-%s' % SFX}),
        404, Contains('missing-%s' % SFX), ['{c}/dest-put-extra'],
        data=b'upload'),
    row('put-reserved-parameter', 'PUT', '{c}/dest-put-param',
        dict(RUN, **{'X-Storlet-Parameter-1': 'storlet_x:1'}), 400,
        Contains('storlet_x'), ['{c}/dest-put-param'], data=b'upload'),
    # --- copy with a storlet ---------------------------------------------------
    row('put-copy-from-account', 'PUT', '{c}/dest-cfa',
        copy(**{'X-Copy-From-Account': 'AUTH_test'}), 400,
        b'Storlet on copy with X-Copy-From-Account is not supported',
        ['{c}/dest-cfa']),
    row('put-copy-fresh-metadata', 'PUT', '{c}/dest-cfm',
        copy(**{'X-Fresh-Metadata': 'true'}), 400,
        b'Storlet on copy with X-Fresh-Metadata is not supported',
        ['{c}/dest-cfm']),
    row('copy-destination-account', 'COPY', '{c}/o',
        copy_to('dest-da', **{'Destination-Account': 'AUTH_test'}), 400,
        b'Storlet on copy with Destination-Account is not supported',
        ['{c}/dest-da']),
    row('copy-fresh-metadata', 'COPY', '{c}/o',
        copy_to('dest-fm', **{'X-Fresh-Metadata': 'true'}), 400,
        b'Storlet on copy with X-Fresh-Metadata is not supported',
        ['{c}/dest-fm']),
    row('copy-without-destination', 'COPY', '{c}/o', RUN, 412,
        b'Destination header required'),
    row('copy-empty-destination', 'COPY', '{c}/o',
        dict(RUN, Destination=''), 412, b'Destination header required'),
    row('copy-malformed-destination', 'COPY', '{c}/o',
        dict(RUN, Destination='dest-nocontainer'), 412, DESTINATION_FORM,
        ['{c}/dest-nocontainer']),
    row('put-malformed-copy-from', 'PUT', '{c}/dest-mcf',
        dict(RUN, **{'X-Copy-From': 'nocontainer'}), 412, COPY_FROM_FORM,
        ['{c}/dest-mcf']),
    row('put-copy-from-container-only', 'PUT', '{c}/dest-mcf2',
        dict(RUN, **{'X-Copy-From': '/{c}'}), 412, COPY_FROM_FORM,
        ['{c}/dest-mcf2']),
    row('copy-storlet-does-not-exist', 'COPY', '{c}/o',
        copy_to('dest-cmissing', MISSING_STORLET), 401,
        UNAUTHORIZED_STORLET, ['{c}/dest-cmissing']),
    row('copy-storlet-fails', 'COPY', '{c}/o',
        copy_to('dest-cbroken', BROKEN), 500, FAILED, ['{c}/dest-cbroken']),
    row('put-copy-from-storlet-fails', 'PUT', '{c}/dest-pcbroken',
        dict(BROKEN, **{'X-Copy-From': '{c}/o'}), 500, FAILED,
        ['{c}/dest-pcbroken']),
    row('put-copy-from-missing-source', 'PUT', '{c}/dest-nosource',
        dict(RUN, **{'X-Copy-From': '{c}/missing-%s' % SFX}), 404, None,
        ['{c}/dest-nosource']),
    row('copy-run-on-proxy-with-value', 'COPY', '{c}/o',
        copy_to('dest-rop', **{'X-Storlet-Run-On-Proxy': 'yes'}), 400,
        RUN_ON_PROXY, ['{c}/dest-rop']),
    # --- account not enabled for storlets ----------------------------------
    row('disabled-account-get', 'GET', '{c2}/o', RUN, 400, DISABLED,
        user='tester2'),
    row('disabled-account-put', 'PUT', '{c2}/dest', RUN, 400, DISABLED,
        ['{c2}/dest'], user='tester2', data=b'upload'),
    row('disabled-account-copy', 'COPY', '{c2}/o',
        dict(RUN, Destination='{c2}/dest-copy'), 400, DISABLED,
        ['{c2}/dest-copy'], user='tester2'),
    row('disabled-account-registration', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(), 400, DISABLED,
        ['storlet/%s.py' % BAD_STORLET], user='tester2', data=b'code'),
    row('disabled-account-acl', 'POST', '{c2}',
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py'}, 400, DISABLED, user='tester2'),
    # --- storlet and dependency registration -------------------------------
    row('register-missing-language', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(drop='Language'), 400,
        b'Mandatory parameter is missing: Language',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-missing-interface-version', 'PUT',
        'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(drop='Interface-Version'), 400,
        b'Mandatory parameter is missing: Interface-Version',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-unsupported-language', 'PUT',
        'storlet/%s.py' % BAD_STORLET, bad_storlet_headers(Language='Ruby'),
        400, b'Unsupported Language', ['storlet/%s.py' % BAD_STORLET],
        data=b'code'),
    row('register-python-2', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Language_Version='2.7'), 400,
        b'Not supported version specified',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-python-version-invalid', 'PUT',
        'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Language_Version='three'), 400,
        b'Language-Version is invalid', ['storlet/%s.py' % BAD_STORLET],
        data=b'code'),
    row('register-not-a-py-name', 'PUT', 'storlet/%s.txt' % BAD_STORLET,
        bad_storlet_headers(), 400, b'Storlet name is incorrect',
        ['storlet/%s.txt' % BAD_STORLET], data=b'code'),
    row('register-main-not-in-file', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Main='other.BadStorlet'), 400,
        b'Main class should be included in storlet file',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-submodule', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Main='%s.sub.BadStorlet' % BAD_STORLET), 400,
        b'Submodule is currently not supported',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-depends-on-itself', 'PUT', 'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Dependency='%s.py' % BAD_STORLET), 400,
        b'Using the same name for storlet and dependency is not allowed',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-duplicated-dependency', 'PUT',
        'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Dependency='a.py,a.py'), 400,
        b'Duplicated name in dependencies',
        ['storlet/%s.py' % BAD_STORLET], data=b'code'),
    row('register-java-name-without-dash', 'PUT',
        'storlet/%s.jar' % BAD_STORLET,
        bad_storlet_headers(Language='Java', Main='org.example.Bad'), 400,
        b'Storlet name is incorrect', ['storlet/%s.jar' % BAD_STORLET],
        data=b'code'),
    row('register-post-without-main', 'POST', 'storlet/%s.py' % POSTED,
        bad_storlet_headers(drop='Main'), 400,
        b'Mandatory parameter is missing: Main'),
    row('dependency-missing-version', 'PUT', 'dependency/%s' % BAD_DEP,
        {}, 400, b'Mandatory parameter is missing: Dependency-Version',
        ['dependency/%s' % BAD_DEP], data=b'dep'),
    row('dependency-permissions-not-octal', 'PUT', 'dependency/%s' % BAD_DEP,
        {'X-Object-Meta-Storlet-Dependency-Version': '1',
         'X-Object-Meta-Storlet-Dependency-Permissions': '888'}, 400,
        b'Dependency permission is incorrect', ['dependency/%s' % BAD_DEP],
        data=b'dep'),
    row('dependency-owner-not-rw', 'PUT', 'dependency/%s' % BAD_DEP,
        {'X-Object-Meta-Storlet-Dependency-Version': '1',
         'X-Object-Meta-Storlet-Dependency-Permissions': '0400'}, 400,
        b'The owner should have rw permission', ['dependency/%s' % BAD_DEP],
        data=b'dep'),
    # --- storlet ACL updates -------------------------------------------------
    row('acl-on-storlet-container', 'POST', 'storlet',
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py'}, 400, ACL_STORLET_CONTAINER),
    row('acl-on-dependency-container', 'POST', 'dependency',
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py'}, 400, ACL_STORLET_CONTAINER),
    row('acl-missing-storlet-name', 'POST', '{c}',
        {'X-Storlet-Container-Read': 'tester3'}, 400, ACL_MISSING),
    row('acl-empty-user', 'POST', '{c}',
        {'X-Storlet-Container-Read': '', 'X-Storlet-Name': 'identity.py'},
        400, ACL_MISSING),
    row('acl-two-users', 'POST', '{c}',
        {'X-Storlet-Container-Read': 'tester3,tester',
         'X-Storlet-Name': 'identity.py'}, 400, ACL_MALFORMED),
    row('acl-two-storlets', 'POST', '{c}',
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py,broken.py'}, 400, ACL_MALFORMED),
    row('acl-container-missing', 'POST', 'missing-%s' % SFX,
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py'}, 401, ACL_UNAUTHORIZED),
    row('acl-account-level', 'POST', '',
        {'X-Storlet-Container-Read': 'tester3',
         'X-Storlet-Name': 'identity.py'}, 400, None),
    # --- hostile names ------------------------------------------------------
    row('get-storlet-name-with-slash', 'GET', '{c}/o',
        {'X-Run-Storlet': 'sub/identity.py'}, 400, Contains('name')),
    row('get-storlet-name-dotdot', 'GET', '{c}/o', {'X-Run-Storlet': '..'},
        400, Contains('name')),
    row('get-storlet-name-traversal', 'GET', '{c}/o',
        {'X-Run-Storlet': '../../etc/passwd'}, 400, Contains('name')),
    row('get-storlet-name-too-long', 'GET', '{c}/o',
        {'X-Run-Storlet': 'x' * 300 + '.py'}, 400, Contains('name')),
    row('get-storlet-name-10kb', 'GET', '{c}/o',
        {'X-Run-Storlet': 'x' * 10240}, 400, None),
    row('get-storlet-name-odd-unicode', 'GET', '{c}/o',
        {'X-Run-Storlet': urllib.parse.quote('\u202eyp.\u200bdi')}, 401,
        UNAUTHORIZED_STORLET),
    row('register-name-with-encoded-slash', 'PUT',
        'storlet/sub%%2F%s.py' % BAD_STORLET,
        bad_storlet_headers(), 400, Contains('name'),
        dests=['storlet/sub/%s.py' % BAD_STORLET]),
    row('register-name-with-nul', 'PUT', 'storlet/%s%%00.py' % BAD_STORLET,
        bad_storlet_headers(), 400, Contains('name')),
    row('register-dependency-name-with-slash', 'PUT',
        'dependency/a%%2F%s' % BAD_DEP,
        {'X-Object-Meta-Storlet-Dependency-Version': '1'}, 400,
        Contains('name'), dests=['dependency/a/%s' % BAD_DEP]),
    row('register-dependency-list-traversal', 'PUT',
        'storlet/%s.py' % BAD_STORLET,
        bad_storlet_headers(Dependency='../../../etc/shadow'), 400,
        Contains('name'), dests=['storlet/%s.py' % BAD_STORLET]),
]


_TOKENS = {}


def request(user, method, path, headers, data=None):
    """A raw request (exact method and headers); (status, headers, body)."""
    if user not in _TOKENS:
        _TOKENS[user] = connection(user).get_auth()
    url, token = _TOKENS[user]
    parsed = urllib.parse.urlparse(url)
    client = http.client.HTTPConnection(parsed.hostname, parsed.port,
                                        timeout=60)
    try:
        client.request(method, parsed.path + ('/' + path if path else ''),
                       body=data,
                       headers=dict(headers, **{'X-Auth-Token': token}))
        resp = client.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        client.close()


@pytest.fixture(scope='module')
def places(conn, deployed, test2_disabled):
    """The table's containers: ``c`` in AUTH_test, ``c2`` in AUTH_test2
    (not enabled for storlets while the table runs)."""
    conn2 = test2_disabled
    c = 'functest-errors-' + SFX
    c2 = 'functest-errors2-' + SFX
    conn.put_container(c)
    conn2.put_container(c2)
    conn2.put_object(c2, 'o', DATA)
    deploy(conn, None, '%s.PostedStorlet' % POSTED, name='%s.py' % POSTED,
           source=b'class PostedStorlet(object):\n    pass\n')
    yield {'c': c, 'c2': c2}
    for cc, name in ((conn, c), (conn2, c2)):
        for obj in cc.get_container(name, full_listing=True)[1]:
            cc.delete_object(name, obj['name'])
        cc.delete_container(name)
    conn.delete_object('storlet', '%s.py' % POSTED)
    conn.post_account({'X-Remove-Account-Meta-Touched': '1'})


def fmt(value, places):
    return value.format(**places)


def head_status(c, path):
    container, _, obj = path.partition('/')
    try:
        c.head_object(container, obj)
        return 200
    except ClientException as err:
        return err.http_status


def snapshot(conn, places):
    """What a bad request must leave unchanged."""
    headers, body = conn.get_object(places['c'], 'o')
    container = conn.head_container(places['c'])
    posted = conn.head_object('storlet', '%s.py' % POSTED)
    return {
        'o': body,
        'o-meta': sorted(k for k in headers if k.startswith('x-object-meta')),
        'c-read': container.get('x-container-read'),
        'c-meta': sorted(k for k in container
                         if k.startswith('x-container-meta')),
        'storage-acls-and-meta': {
            name: sorted((k, v) for k, v in conn.head_container(name).items()
                         if k.startswith(('x-container-meta',
                                          'x-container-read')))
            for name in ('storlet', 'dependency')},
        'posted-meta': {k: v for k, v in posted.items()
                        if k.startswith('x-object-meta-storlet')},
        'account-meta': sorted(k for k in conn.head_account()
                               if k.startswith('x-account-meta-')
                               and k != 'x-account-meta-storlet-enabled'),
    }


@pytest.mark.parametrize(
    'user,method,path,headers,status,body,dests,data', ROWS)
def test_error(conn, places, user, method, path, headers, status, body,
               dests, data):
    conn.put_object(places['c'], 'o', DATA)
    before = snapshot(conn, places)
    headers = {k: fmt(v, places) for k, v in headers.items()}
    # marker headers: if the request were forwarded, they would show
    headers.setdefault('X-Container-Meta-Touched', 'yes')
    if path == '':
        headers['X-Account-Meta-Touched'] = 'yes'

    got_status, got_headers, got_body = request(
        user, method, fmt(path, places), headers, data)

    assert got_status == status, got_body
    if isinstance(body, Contains):
        assert body.text.lower() in got_body.decode('utf-8', 'replace') \
            .lower()
    elif body is not None:
        assert got_body == body
    if got_body:
        assert got_headers.get('Content-Type', '').startswith(
            ('text/plain', 'text/html'))
        assert DATA not in got_body
    assert 'X-Storlet-Executed' not in got_headers
    owner = connection(user) if user != 'tester' else conn
    for dest in dests:
        assert head_status(owner, fmt(dest, places)) == 404, dest
    assert snapshot(conn, places) == before


def test_servers_healthy_and_nothing_stored_after_the_table(conn, places):
    # nothing but the source object in the table's containers
    names = [o['name'] for o in conn.get_container(places['c'])[1]]
    assert names == ['o']
    names2 = [o['name']
              for o in connection('tester2').get_container(places['c2'])[1]]
    assert names2 == ['o']
    for name in ('%s.py' % BAD_STORLET, '%s.txt' % BAD_STORLET,
                 '%s.jar' % BAD_STORLET):
        assert head_status(conn, 'storlet/' + name) == 404
    assert head_status(conn, 'dependency/' + BAD_DEP) == 404
    # a good storlet GET still works, on an object server and on the proxy
    conn.put_object(places['c'], 'o', DATA)
    for extra, where in (({}, 'object'),
                         ({'X-Storlet-Run-On-Proxy': ''}, 'proxy')):
        headers, body = conn.get_object(places['c'], 'o',
                                        headers=dict(RUN, **extra))
        assert body == DATA
        assert headers['x-storlet-executed'] == where
