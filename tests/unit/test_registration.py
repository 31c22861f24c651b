"""Registration validation: the exact 400 bodies (docs/api.md, "Registering")."""
import pytest
from hypothesis import given, strategies as st

from storlets.gateway.registration import (
    RegistrationError, check_code_write, check_container_write,
    check_object_name, dependency_mode, validate_dependency,
    validate_storlet)

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
    ('mystorlet.py', with_(PY, Interface_Version='2.0'),
     'Unsupported Interface-Version: 2.0 (supported: 1.0)'),
    ('storlet-1.0.jar', with_(JAVA, Interface_Version='9.9'),
     'Unsupported Interface-Version: 9.9 (supported: 1.0)'),
    ('mystorlet.py', with_(PY, Interface_Version='1.0 '),
     'Unsupported Interface-Version: 1.0  (supported: 1.0)'),
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


@given(version=st.text(max_size=8))
def test_only_interface_version_1_0_registers(version):
    params = with_(PY, Interface_Version=version)
    if version == '1.0':
        validate_storlet('mystorlet.py', params)
    else:
        with pytest.raises(RegistrationError,
                           match='^Unsupported Interface-Version'):
            validate_storlet('mystorlet.py', params)


WRITE_HEADERS = ['X-Copy-From', 'X-Copy-From-Account', 'Destination',
                 'Destination-Account', 'X-Object-Manifest',
                 'X-Static-Large-Object', 'X-Symlink-Target',
                 'X-Symlink-Target-Account']


@pytest.mark.parametrize('header', WRITE_HEADERS)
@pytest.mark.parametrize('method', ['PUT', 'POST'])
def test_indirect_writes_into_code_containers_are_refused(method, header):
    with pytest.raises(RegistrationError) as err:
        check_code_write(method, {header: 'c/o'}, {}, 'storlet')
    assert str(err.value).startswith(header + ': only a plain upload')
    assert str(err.value).endswith('upload the code instead')


def test_copy_and_slo_manifest_are_refused_plain_upload_is_not():
    with pytest.raises(RegistrationError, match='^Copy: '):
        check_code_write('COPY', {}, {}, 'storlet')
    with pytest.raises(RegistrationError,
                       match='^Static large object manifest: '):
        check_code_write('PUT', {}, {'multipart-manifest': 'put'},
                         'dependency')
    check_code_write('PUT', {'X-Run-Storlet': 'a.py'}, {}, 'storlet')
    check_code_write('POST', {'X-Object-Meta-Storlet-Main': 'a.A'}, {},
                     'storlet')


@pytest.mark.parametrize('headers', [
    {'X-Versions-Location': 'old'}, {'X-History-Location': 'old'},
    {'X-Versions-Enabled': 'true'}, {'X-Versions-Enabled': 'yes'}])
def test_versioning_a_code_container_is_refused(headers):
    with pytest.raises(RegistrationError, match='cannot be set on the '
                                                'storlet container'):
        check_container_write(headers, 'storlet')


@pytest.mark.parametrize('headers', [
    {}, {'X-Versions-Location': ''}, {'X-Versions-Enabled': 'false'},
    {'X-Container-Read': '.r:*'}])
def test_other_code_container_writes_pass(headers):
    check_container_write(headers, 'storlet')
