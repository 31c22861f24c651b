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


@pytest.mark.parametrize('environ,names', [
    ({'HTTP_X_USER_NAME': 'alice'}, ['alice']),
    ({'REMOTE_USER': 'test:tester3,test,AUTH_test'},
     ['test:tester3', 'tester3']),
    ({'REMOTE_USER': '.wsgi.pre_authed'}, []),
    ({}, []),
])
def test_user_names(environ, names):
    assert acl.user_names(environ) == names


def test_grants_matches_user_and_storlet_exactly():
    read_acl = 'adam,.r:storlets.tester3_Identity.py'
    assert acl.grants(read_acl, ['test:tester3', 'tester3'], 'Identity.py')
    assert not acl.grants(read_acl, ['tester3'], 'identity.py')
    assert not acl.grants(read_acl, ['tester4'], 'Identity.py')
    assert not acl.grants(read_acl, ['tester3'], 'other.py')
    assert not acl.grants(None, ['tester3'], 'Identity.py')
