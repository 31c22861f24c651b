"""Storlet ACL helpers: entries, validation and user matching."""
import pytest

from storlets.middleware import acl


def test_entry_is_added_once():
    value = acl.add_entry('adam', 'john', 'mystorlet-1.0.jar')
    assert value == 'adam,.r:storlets.john_mystorlet-1.0.jar'
    assert acl.add_entry(value, 'john', 'mystorlet-1.0.jar') == value
    assert acl.add_entry(None, 'john', 's.py') == '.r:storlets.john_s.py'


@pytest.mark.parametrize('user,storlet,problem', [
    ('', 's.py', 'missing a mandatory header'),
    ('u', '', 'missing a mandatory header'),
    ('a,b', 's.py', 'mulformed storlet or user name'),
    ('u', 's.py,t.py', 'mulformed storlet or user name'),
])
def test_invalid_requests(user, storlet, problem):
    assert problem in acl.validate_acl_request(user, storlet)


@pytest.mark.parametrize('environ,account,names', [
    ({'REMOTE_USER': 'test:tester3,test'}, 'AUTH_test',
     ['test:tester3', 'tester3']),
    # a namesake of another account matches only by its qualified name
    ({'REMOTE_USER': 'test2:tester3,test2,AUTH_test2'}, 'AUTH_test',
     ['test2:tester3']),
    ({'REMOTE_USER': '.wsgi.pre_authed'}, 'AUTH_test', []),
    ({'REMOTE_USER': ('p1', 'proj')}, 'AUTH_p1', []),   # no identity: none
    ({}, 'AUTH_test', []),
])
def test_user_names_tempauth_style(environ, account, names):
    assert acl.user_names(environ, account) == names


def keystone_environ(user_domain='default', project_domain='default',
                     project='0123abcd', **headers):
    """A request environment as Swift's real keystoneauth leaves it, from
    the headers authtoken sets for a v3 token."""
    from swift.common.middleware import keystoneauth
    from swift.common.swob import Request
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response('204 No Content', [])
        return [b'']
    filt = keystoneauth.filter_factory({})(app)
    req = Request.blank('/v1/AUTH_%s/c/o' % project, headers=dict({
        'X-Identity-Status': 'Confirmed',
        'X-User-Id': 'u5678', 'X-User-Name': 'tester_member',
        'X-User-Domain-Id': user_domain, 'X-User-Domain-Name': 'Default',
        'X-Project-Id': project, 'X-Project-Name': 'test',
        'X-Project-Domain-Id': project_domain,
        'X-Project-Domain-Name': 'Default',
        'X-Roles': 'member'}, **headers))
    req.environ['keystone.token_info'] = {'token': {}}
    req.get_response(filt)
    return seen


def test_keystone_remote_user_is_a_tuple_and_names_come_from_identity():
    environ = keystone_environ()
    assert environ['REMOTE_USER'] == ('0123abcd', 'test')
    assert acl.user_names(environ, 'AUTH_0123abcd') == [
        '0123abcd:u5678', 'u5678', 'test:tester_member', 'tester_member']


def test_keystone_user_of_another_project_matches_only_qualified():
    environ = keystone_environ(project='ffff0000')
    assert acl.user_names(environ, 'AUTH_0123abcd') == [
        'ffff0000:u5678', 'test:tester_member']


def test_keystone_names_outside_the_default_domain_do_not_count():
    environ = keystone_environ(user_domain='d42')
    assert acl.user_names(environ, 'AUTH_0123abcd') == [
        '0123abcd:u5678', 'u5678']


def test_grants_matches_user_and_storlet_exactly():
    read_acl = 'adam,.r:storlets.tester3_Identity.py'
    assert acl.grants(read_acl, ['test:tester3', 'tester3'], 'Identity.py')
    assert not acl.grants(read_acl, ['tester3'], 'identity.py')
    assert not acl.grants(read_acl, ['tester4'], 'Identity.py')
    assert not acl.grants(read_acl, ['tester3'], 'other.py')
    assert not acl.grants(None, ['tester3'], 'Identity.py')
