"""Registration validation: the exact 400 bodies of spec §5."""
import pytest

from storlets.gateway.registration import (
    RegistrationError, check_object_name, dependency_mode,
    validate_dependency, validate_storlet)

PY = {'Language': 'Python', 'Interface-Version': '1.0',
      'Object-Metadata': 'no', 'Main': 'mystorlet.MyStorlet'}
JAVA = {'Language': 'Java', 'Interface-Version': '1.0',
        'Object-Metadata': 'no', 'Main': 'org.example.Storlet'}


def without(params, key):
    return {k: v for k, v in params.items() if k != key}


def with_(params, **kw):
    out = dict(params)
    out.update({k.replace('_', '-'): v for k, v in kw.items()})
    return out


STORLET_CASES = [
    ('mystorlet.py', without(PY, 'Language'),
     'Mandatory parameter is missing: Language'),
    ('mystorlet.py', without(PY, 'Interface-Version'),
     'Mandatory parameter is missing: Interface-Version'),
    ('mystorlet.py', without(PY, 'Object-Metadata'),
     'Mandatory parameter is missing: Object-Metadata'),
    ('mystorlet.py', without(PY, 'Main'),
     'Mandatory parameter is missing: Main'),
    ('mystorlet.py', {}, 'Mandatory parameter is missing: Language'),
    ('storlet.jar', JAVA, 'Storlet name is incorrect'),
    ('storlet-10', JAVA, 'Storlet name is incorrect'),
    ('mystorlet.py', with_(PY, Language_Version='a.b'),
     'Language-Version is invalid'),
    ('mystorlet.py', with_(PY, Language_Version='2.7'),
     'Not supported version specified'),
    ('mystorlet.py', with_(PY, Language_Version='1.7'),
     'Not supported version specified'),
    ('mystorlet.pyc', PY, 'Storlet name is incorrect'),
    ('mystorlet', PY, 'Storlet name is incorrect'),
    ('other.py', PY, 'Main class should be included in storlet file'),
    ('mystorlet.py', with_(PY, Main='mystorlet'),
     'Submodule is currently not supported'),
    ('mystorlet.py', with_(PY, Main='mystorlet.foo.MyStorlet'),
     'Submodule is currently not supported'),
    ('mystorlet.py', with_(PY, Language='Ruby'), 'Unsupported Language'),
    ('mystorlet.py', with_(PY, Dependency='dep.py,mystorlet.py'),
     'Using the same name for storlet and dependency is not allowed'),
    ('mystorlet.py', with_(PY, Dependency='dep.py,dep.py'),
     'Duplicated name in dependencies'),
    ('mystorlet.py', with_(PY, Dependency='../evil'),
     'Dependency name is incorrect'),
]


@pytest.mark.parametrize('name,params,body', STORLET_CASES)
def test_invalid_storlet_registration(name, params, body):
    with pytest.raises(RegistrationError) as err:
        validate_storlet(name, params)
    assert str(err.value) == body


@pytest.mark.parametrize('name,params', [
    ('mystorlet.py', PY),
    ('mystorlet.py', with_(PY, Language='python')),
    ('mystorlet.py', with_(PY, Language_Version='3')),
    ('mystorlet.py', with_(PY, Language_Version='3.11')),
    ('mystorlet.py', with_(PY, Dependency='a.py,b.sh')),
    ('storlet-1.0.jar', JAVA),
    ('storlet-1.0.jar', with_(JAVA, Language='JAVA')),
])
def test_valid_storlet_registration(name, params):
    validate_storlet(name, params)


@pytest.mark.parametrize('params,body', [
    ({}, 'Mandatory parameter is missing: Dependency-Version'),
    ({'Dependency-Version': '1', 'Dependency-Permissions': 'foo'},
     'Dependency permission is incorrect'),
    ({'Dependency-Version': '1', 'Dependency-Permissions': '888'},
     'Dependency permission is incorrect'),
    ({'Dependency-Version': '1', 'Dependency-Permissions': '400'},
     'The owner should have rw permission'),
    ({'Dependency-Version': '1', 'Dependency-Permissions': '0500'},
     'The owner should have rw permission'),
])
def test_invalid_dependency_registration(params, body):
    with pytest.raises(RegistrationError) as err:
        validate_dependency('dep.sh', params)
    assert str(err.value) == body


@pytest.mark.parametrize('perms,mode', [
    (None, 0o600), ('0755', 0o700), ('755', 0o700), ('0640', 0o600),
    ('0700', 0o700)])
def test_dependency_mode_keeps_owner_bits(perms, mode):
    params = {'Dependency-Version': '1'}
    if perms:
        params['Dependency-Permissions'] = perms
    validate_dependency('dep.sh', params)
    assert dependency_mode(params) == mode


@pytest.mark.parametrize('name', [
    '', '.', '..', 'a/b', '../x.py', 'x\x00.py', 'x' * 256, 'tab\t.py',
    'é' * 128])
def test_unsafe_names_are_refused(name):
    with pytest.raises(RegistrationError):
        check_object_name(name)


@pytest.mark.parametrize('name', ['a.py', '..a.py', 'a..b.py', 'x' * 255,
                                  'ünicode.py', 'with space.py'])
def test_safe_names_are_accepted(name):
    check_object_name(name)
