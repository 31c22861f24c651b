"""Storlets behind a real Keystone: the all-in-one's Keystone proxy
(127.0.0.1:8085, ``authtoken keystoneauth`` where 8080 has ``tempauth``)
over the same cluster, Keystone v3 on 127.0.0.1:5000
(devstack/lib/keystone.sh).

Invocations (GET, PUT, both copy forms, object and proxy side, a
dependency, a Java storlet) run with the same test body against both auths:
tempauth's test:tester in AUTH_test and Keystone's test/tester in
AUTH_<test project id>. Storlet ACLs with Keystone users: tester_member
(role member, not an operator of the project) is granted by name, by id and
by ``<project>:<user>``; tester2 of project test2 only by
``<project>:<user>`` (name or id form), never by its bare name.

``keystone_account`` makes sure the Keystone account is as aio promises
(enabled, containers, tester_member reading storlet and dependency) and
puts back what it changed.
"""
import contextlib
import json
import os
import re
import urllib.request
import uuid

import pytest
import swiftclient
from swiftclient import ClientException

from tests.functional import test_java
from tests.functional.conftest import (
    STORLETS_DIR, admin_in, connection, enabled, metadata_as, reader,
    storlet_headers)

KEYSTONE = os.environ.get('STORLETS_KEYSTONE_AUTH', 'http://127.0.0.1:5000/v3')
PASSWORD = 'testing'
DATA = b'rows only readable through identity.py\n'
#: What aio.sh up leaves in the Keystone account's mycontainer/myobject.
HELLO = b'Hello from storlets through Keystone!\n'


def ks_connection(user='tester', project='test'):
    """A swiftclient Connection with a Keystone v3 token; its storage URL
    comes from the catalog (the 8085 proxy)."""
    return swiftclient.Connection(
        KEYSTONE, user, PASSWORD, auth_version='3', retries=0,
        os_options={'project_name': project,
                    'user_domain_name': 'Default',
                    'project_domain_name': 'Default'})


def identity(user, project):
    """(user id, project id) from a token of ``user`` on ``project``."""
    body = {'auth': {'identity': {'methods': ['password'], 'password': {
        'user': {'name': user, 'domain': {'name': 'Default'},
                 'password': PASSWORD}}},
        'scope': {'project': {'name': project,
                              'domain': {'name': 'Default'}}}}}
    req = urllib.request.Request(
        KEYSTONE + '/auth/tokens', data=json.dumps(body).encode(),
        headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as resp:
        token = json.load(resp)['token']
    return token['user']['id'], token['project']['id']


@pytest.fixture(scope='session')
def ks_conn():
    c = ks_connection()
    c.head_account()    # fail (not skip) if Keystone or 8085 is not up
    yield c
    c.close()


@pytest.fixture(scope='session')
def keystone_account(ks_conn):
    """AUTH_<test id> as aio promises (module doc); returns its name."""
    account = ks_conn.url.rstrip('/').rsplit('/', 1)[-1]
    assert account == 'AUTH_%s' % identity('tester', 'test')[1]
    admin = admin_in(account)    # tempauth's reseller admin, through 8080
    with contextlib.ExitStack() as stack:
        stack.callback(admin.close)
        stack.enter_context(metadata_as(admin.head_account, admin.post_account,
                                        {'X-Account-Meta-Storlet-Enabled':
                                         enabled}))
        for c in ('storlet', 'dependency', 'storletlog'):
            admin.put_container(c)
            if c != 'storletlog':
                stack.enter_context(metadata_as(
                    lambda c=c: admin.head_container(c),
                    lambda h, c=c: admin.post_container(c, h),
                    {'X-Container-Read': reader('test:tester_member')}))
        yield account


def _deploy_all(c):
    for name, main in [('identity.py', 'identity.IdentityStorlet'),
                       ('echo_params.py', 'echo_params.EchoParamsStorlet')]:
        with open(os.path.join(STORLETS_DIR, name), 'rb') as f:
            c.put_object('storlet', name, f.read(),
                         headers=storlet_headers(main))
    with open(os.path.join(STORLETS_DIR, 'get42.sh'), 'rb') as f:
        c.put_object('dependency', 'get42.sh', f.read(), headers={
            'X-Object-Meta-Storlet-Dependency-Version': '1',
            'X-Object-Meta-Storlet-Dependency-Permissions': '0755'})
    with open(os.path.join(STORLETS_DIR, 'exec_dep.py'), 'rb') as f:
        c.put_object('storlet', 'exec_dep.py', f.read(), headers=dict(
            storlet_headers('exec_dep.ExecDepStorlet'),
            **{'X-Object-Meta-Storlet-Dependency': 'get42.sh'}))


@pytest.fixture(scope='session')
def auths(keystone_account, ks_conn):
    """auth name -> tester's connection, the storlets deployed in both."""
    tempauth = connection()
    conns = {'tempauth': tempauth, 'keystone': ks_conn}
    for c in conns.values():
        _deploy_all(c)
    yield conns
    tempauth.close()


@pytest.fixture(params=['tempauth', 'keystone'])
def auth(request, auths):
    """(connection, fresh container): the same test through both auths."""
    c = auths[request.param]
    name = 'functest-ks-' + uuid.uuid4().hex[:10]
    c.put_container(name)
    yield c, name
    for obj in c.get_container(name, full_listing=True)[1]:
        c.delete_object(name, obj['name'])
    c.delete_container(name)


PLACEMENTS = {'object': {}, 'proxy': {'X-Storlet-Run-On-Proxy': ''}}


@pytest.fixture(params=sorted(PLACEMENTS))
def where(request):
    return request.param


def run(where, **headers):
    return dict(PLACEMENTS[where], **headers)


def test_get(auth, where):
    c, cont = auth
    c.put_object(cont, 'o', DATA, headers={'X-Object-Meta-Color': 'red'})
    headers, body = c.get_object(cont, 'o', headers=run(
        where, **{'X-Run-Storlet': 'identity.py'}))
    assert body == DATA
    assert headers['x-object-meta-color'] == 'red'
    assert headers['x-storlet-executed'] == where


def test_put(auth, where):
    c, cont = auth
    c.put_object(cont, 'o', DATA, headers=run(
        where, **{'X-Run-Storlet': 'identity.py'}))
    assert c.get_object(cont, 'o')[1] == DATA


@pytest.mark.parametrize('form', ['x-copy-from', 'copy-verb'])
def test_copy(auth, where, form):
    c, cont = auth
    c.put_object(cont, 'src', DATA)
    h = run(where, **{'X-Run-Storlet': 'identity.py'})
    if form == 'x-copy-from':
        c.put_object(cont, 'dst', b'', headers=dict(
            h, **{'X-Copy-From': '%s/src' % cont}))
    else:
        c.copy_object(cont, 'src', '/%s/dst' % cont, headers=h)
    assert c.get_object(cont, 'dst')[1] == DATA


def test_dependency(auth, where):
    c, cont = auth
    c.put_object(cont, 'o', b'')
    headers, body = c.get_object(cont, 'o', headers=run(
        where, **{'X-Run-Storlet': 'exec_dep.py'}))
    assert headers['x-object-meta-depend-ret-code'] == '42'
    assert body == b'dependency v1\n'


@pytest.mark.skipif(
    test_java.SANDBOX_IMAGE.startswith(test_java.PYTHON_ONLY_IMAGE),
    reason='requires the Java sandbox image (all-in-one built with '
           'STORLETS_AIO_JAVA=0 has none)')
def test_java_identity(auth, where):
    from tests.functional.java_build import java_build
    c, cont = auth
    jbuild = java_build()
    with open(jbuild.sample_jar('identitystorlet-1.0.jar'), 'rb') as f:
        jar = f.read()
    with open(jbuild.get42, 'rb') as f:
        c.put_object('dependency', 'get42', f.read(), headers={
            'X-Object-Meta-Storlet-Dependency-Version': '1',
            'X-Object-Meta-Storlet-Dependency-Permissions': '0755'})
    c.put_object('storlet', 'identitystorlet-1.0.jar', jar, headers=dict(
        storlet_headers('org.openstack.storlet.identity.IdentityStorlet',
                        language='Java'),
        **{'X-Object-Meta-Storlet-Dependency': 'get42'}))
    c.put_object(cont, 'o', DATA)
    headers, body = c.get_object(cont, 'o', headers=run(
        where, **{'X-Run-Storlet': 'identitystorlet-1.0.jar'}))
    assert body == DATA
    assert headers['x-storlet-executed'] == where


# -- storlet ACLs with Keystone users ----------------------------------------

@pytest.fixture
def private(keystone_account, ks_conn):
    """A container of the Keystone account tester_member cannot read."""
    _deploy_all(ks_conn)
    name = 'functest-ksacl-' + uuid.uuid4().hex[:10]
    ks_conn.put_container(name)
    ks_conn.put_object(name, 'o', DATA)
    yield name
    ks_conn.delete_object(name, 'o')
    ks_conn.delete_container(name)


@pytest.fixture(scope='module')
def member():
    c = ks_connection('tester_member')
    yield c
    c.close()


def grant(conn, container, user, storlet='identity.py'):
    conn.post_container(container, {'X-Storlet-Container-Read': user,
                                     'X-Storlet-Name': storlet})


def get_as(c, url, container, storlet=None, where='object'):
    """GET ``container/o`` of the account at ``url`` with ``c``'s token."""
    token = c.get_auth()[1]
    headers = run(where, **({'X-Run-Storlet': storlet} if storlet else {}))
    return swiftclient.client.get_object(url, token, container, 'o',
                                         headers=headers)


def refused(call):
    with pytest.raises(ClientException) as err:
        call()
    assert err.value.http_status == 403
    assert DATA not in (err.value.http_response_content or b'')


def test_member_is_not_an_operator(ks_conn, member, private):
    assert member.get_auth()[0] == ks_conn.url
    refused(lambda: member.get_object(private, 'o'))
    refused(lambda: member.get_container(private))


@pytest.mark.parametrize('form', ['name', 'id', 'project-name:user-name',
                                  'project-id:user-id'])
def test_member_granted_through_the_storlet(ks_conn, member, private, form,
                                            where):
    user_id, project_id = identity('tester_member', 'test')
    user = {'name': 'tester_member', 'id': user_id,
            'project-name:user-name': 'test:tester_member',
            'project-id:user-id': '%s:%s' % (project_id, user_id)}[form]
    url = ks_conn.url
    refused(lambda: get_as(member, url, private, 'identity.py', where))
    grant(ks_conn, private, user)
    headers, body = get_as(member, url, private, 'identity.py', where)
    assert body == DATA
    assert headers['x-storlet-executed'] == where
    refused(lambda: get_as(member, url, private))                 # raw read
    refused(lambda: get_as(member, url, private, 'echo_params.py', where))


@pytest.fixture
def tester2(ks_conn):
    """tester2 (project test2) with read access to the Keystone account's
    storlet container (needed to run a storlet), as before afterwards."""
    admin = admin_in(ks_conn.url.rstrip('/').rsplit('/', 1)[-1])
    c2 = ks_connection('tester2', 'test2')
    with metadata_as(lambda: admin.head_container('storlet'),
                     lambda h: admin.post_container('storlet', h),
                     {'X-Container-Read': reader('test2:tester2')}):
        yield c2
    c2.close()
    admin.close()


def test_other_project_user_needs_project_qualified_name(ks_conn, tester2,
                                                         private):
    url = ks_conn.url
    assert tester2.get_auth()[0] != url      # its own project's account
    refused(lambda: get_as(tester2, url, private, 'identity.py'))
    grant(ks_conn, private, 'tester2')       # a bare name: this project only
    refused(lambda: get_as(tester2, url, private, 'identity.py'))
    grant(ks_conn, private, 'test2:tester2')
    assert get_as(tester2, url, private, 'identity.py')[1] == DATA
    refused(lambda: get_as(tester2, url, private))


def test_other_project_user_by_ids(ks_conn, tester2, private):
    user_id, project_id = identity('tester2', 'test2')
    url = ks_conn.url
    grant(ks_conn, private, user_id)         # a bare id: this project only
    refused(lambda: get_as(tester2, url, private, 'identity.py'))
    grant(ks_conn, private, '%s:%s' % (project_id, user_id))
    assert get_as(tester2, url, private, 'identity.py')[1] == DATA


# Upstream's four storlet-ACL tests (a member of the project, bare user
# name, object and proxy side): refused without the ACL, allowed with it.

def test_storlet_acl_get_fail(ks_conn, member, private, where):
    refused(lambda: get_as(member, ks_conn.url, private, 'identity.py',
                           where))


def test_storlet_acl_get_success(ks_conn, member, private, where):
    refused(lambda: get_as(member, ks_conn.url, private, 'identity.py',
                           where))
    grant(ks_conn, private, 'tester_member')
    assert ks_conn.head_container(private)['x-container-read'] == \
        '.r:storlets.tester_member_identity.py'
    headers, body = get_as(member, ks_conn.url, private, 'identity.py', where)
    assert body == DATA


def test_readme_keystone_block_verbatim(auths):
    """The README's Keystone way in (its third quick-start block) works as
    written: v3 env for the swift CLI, the 8085 storage URL from the
    catalog, the storlet on mycontainer/myobject (as aio.sh up leaves it)."""
    from tests.functional.test_readme import REPO, blocks, run, section
    c = auths['keystone']
    c.put_container('mycontainer')
    c.put_object('mycontainer', 'myobject', HELLO)
    script = blocks(section('Quick start (Debian 12, as root)'), 'sh')[2]
    result = run(script, REPO)
    assert result.returncode == 0, result.stderr
    account = 'AUTH_%s' % identity('tester', 'test')[1]
    assert re.search(r'Account: %s\n' % account, result.stdout)
    assert result.stdout.endswith(HELLO.decode())
