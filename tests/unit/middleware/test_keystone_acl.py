"""Storlet ACLs behind Swift's real keystoneauth.

keystoneauth leaves ``REMOTE_USER`` as a (project id, project name) tuple
and the identity in ``keystone.identity``; reading a tempauth-style string
there made every storlet-ACL read answer 500 in Keystone deployments.
The pipeline here is keystoneauth -> storlet filter -> a FakeSwift that
authorises each request with ``swift.authorize`` and the container's read
ACL, as Swift's proxy controllers do.
"""
import pytest
from swift.common.middleware import keystoneauth
from swift.common.swob import HTTPForbidden, Request

from storlets.gateway.stub import StubStorletGateway
from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from tests.unit.fake_swift import FakeCodeSource, FakeSwift

PROJECT = '0123abcd'
ACCOUNT = '/v1/AUTH_%s' % PROJECT
STORLET = {
    'X-Object-Meta-Storlet-Language': 'Python',
    'X-Object-Meta-Storlet-Interface-Version': '1.0',
    'X-Object-Meta-Storlet-Object-Metadata': 'no',
    'X-Object-Meta-Storlet-Main': 'identity.IdentityStorlet',
    'Etag': 'abc', 'X-Timestamp': '1.0'}


class AuthorizingSwift(FakeSwift):
    """FakeSwift that asks ``swift.authorize`` with the container's ACL."""

    def __init__(self, read_acls):
        super().__init__()
        self.read_acls = read_acls   # {container path: X-Container-Read}

    def __call__(self, env, start_response):
        req = Request(env)
        parts = req.path.split('/')
        authorize = env.get('swift.authorize')
        if len(parts) > 4 and authorize:
            req.acl = self.read_acls.get('/'.join(parts[:4]))
            denied = authorize(req)
            if denied is not None:
                self.calls.append((req.method, req.path, dict(req.headers),
                                   env.get('swift.source')))
                return HTTPForbidden()(env, start_response)
        return super().__call__(env, start_response)


def pipeline(read_acls):
    swift = AuthorizingSwift(read_acls)
    swift.register('HEAD', ACCOUNT, 204,
                   {'X-Account-Meta-Storlet-Enabled': 'true'})
    for container, value in read_acls.items():
        swift.register('HEAD', container, 204, {'X-Container-Read': value})
    swift.register('HEAD', ACCOUNT + '/storlet/identity.py', 200, STORLET)
    swift.register('GET', ACCOUNT + '/c/o', 200, {}, b'data!')
    storlets = StorletMiddleware(swift, StorletConfig(execution_server='proxy'),
                                 StubStorletGateway(), FakeCodeSource())
    return swift, keystoneauth.filter_factory({})(storlets)


def member_get(app, user_name='tester_member', user_id='u5678',
               project=PROJECT, project_name='test'):
    """A storlet GET as authtoken would pass a v3 member token on."""
    req = Request.blank(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py',
        'X-Identity-Status': 'Confirmed',
        'X-User-Id': user_id, 'X-User-Name': user_name,
        'X-User-Domain-Id': 'default', 'X-User-Domain-Name': 'Default',
        'X-Project-Id': project, 'X-Project-Name': project_name,
        'X-Project-Domain-Id': 'default', 'X-Project-Domain-Name': 'Default',
        'X-Roles': 'member'})
    req.environ['keystone.token_info'] = {'token': {}}
    resp = req.get_response(app)
    resp.body
    return resp


STORLET_READABLE = {ACCOUNT + '/storlet': '*:*'}


@pytest.mark.parametrize('granted', [
    'tester_member', 'u5678', 'test:tester_member', '%s:u5678' % PROJECT])
def test_storlet_acl_lets_a_keystone_member_read_through_the_storlet(granted):
    swift, app = pipeline(dict(STORLET_READABLE, **{
        ACCOUNT + '/c': '.r:storlets.%s_identity.py' % granted}))
    resp = member_get(app)
    assert resp.status_int == 200
    assert resp.body == b'data!'
    assert swift.unclosed == []


def test_no_storlet_acl_entry_keeps_the_403():
    swift, app = pipeline(dict(STORLET_READABLE, **{
        ACCOUNT + '/c': '.r:storlets.someone_else_identity.py'}))
    assert member_get(app).status_int == 403


def test_a_namesake_in_another_project_is_not_granted_by_a_bare_name():
    swift, app = pipeline(dict(STORLET_READABLE, **{
        ACCOUNT + '/c': '.r:storlets.tester_member_identity.py'}))
    resp = member_get(app, project='ffff0000', user_id='u9999')
    assert resp.status_int == 403


def test_another_projects_user_named_with_its_project_is_granted():
    swift, app = pipeline(dict(STORLET_READABLE, **{
        ACCOUNT + '/c': '.r:storlets.other:tester_member_identity.py'}))
    resp = member_get(app, project='ffff0000', user_id='u9999',
                      project_name='other')
    assert resp.status_int == 200
