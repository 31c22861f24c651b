"""Validation of storlet and dependency uploads (registration).

Pure functions over the ``X-Object-Meta-Storlet-*`` headers of an upload,
with the parameter names as Swift title-cases them (``Language``, ``Main``,
``Dependency``...). Each raises ``RegistrationError`` whose message is the
exact ``400`` body the client receives.
"""
import re

MAX_NAME_LENGTH = 255
SUPPORTED_LANGUAGES = ('java', 'python')
MANDATORY_STORLET_PARAMS = (
    'Language', 'Interface-Version', 'Object-Metadata', 'Main')
_PYTHON_VERSION = re.compile(r'^\d+(\.\d+)?$')


class RegistrationError(ValueError):
    """An upload's storlet metadata is invalid; str() is the 400 body."""


def check_object_name(name, what='Storlet'):
    """Refuse names that cannot safely become a file name on the host.

    Used for storlet names (``X-Run-Storlet``, uploads) and dependency names
    before any path is built from them.
    """
    if (not name or name in ('.', '..') or '/' in name or '\x00' in name
            or len(name.encode('utf-8', 'surrogatepass')) > MAX_NAME_LENGTH
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise RegistrationError('%s name is incorrect' % what)


def dependency_names(value):
    """Split a ``Dependency`` value into names (no trimming, like upstream)."""
    return value.split(',') if value else []


def validate_storlet(name, params):
    """Validate a storlet upload named ``name`` with metadata ``params``."""
    for key in MANDATORY_STORLET_PARAMS:
        if key not in params:
            raise RegistrationError('Mandatory parameter is missing: %s' % key)
    language = params['Language'].lower()
    if language == 'java':
        if '-' not in name or '.' not in name:
            raise RegistrationError('Storlet name is incorrect')
    elif language == 'python':
        _validate_python(name, params)
    else:
        raise RegistrationError('Unsupported Language')
    check_object_name(name)
    deps = dependency_names(params.get('Dependency', ''))
    if name in deps:
        raise RegistrationError(
            'Using the same name for storlet and dependency is not allowed')
    if len(set(deps)) != len(deps):
        raise RegistrationError('Duplicated name in dependencies')
    for dep in deps:
        check_object_name(dep, 'Dependency')


def _validate_python(name, params):
    version = params.get('Language-Version')
    if version is not None:
        if not _PYTHON_VERSION.match(version):
            raise RegistrationError('Language-Version is invalid')
        if version.split('.')[0] != '3':
            raise RegistrationError('Not supported version specified')
    if not name.endswith('.py'):
        raise RegistrationError('Storlet name is incorrect')
    stem = name[:-len('.py')]
    main = params['Main']
    if main.split('.')[0] != stem:
        raise RegistrationError('Main class should be included in storlet file')
    if main.count('.') != 1 or not main.split('.')[1]:
        raise RegistrationError('Submodule is currently not supported')


def validate_dependency(name, params):
    """Validate a dependency upload named ``name``."""
    if 'Dependency-Version' not in params:
        raise RegistrationError(
            'Mandatory parameter is missing: Dependency-Version')
    perms = params.get('Dependency-Permissions')
    if perms is not None:
        try:
            mode = int(perms, 8)
        except ValueError:
            raise RegistrationError('Dependency permission is incorrect')
        if mode < 0 or mode > 0o7777:
            raise RegistrationError('Dependency permission is incorrect')
        if mode & 0o600 != 0o600:
            raise RegistrationError('The owner should have rw permission')
    check_object_name(name, 'Dependency')


def dependency_mode(params):
    """File mode for a dependency inside the sandbox: owner bits only."""
    perms = params.get('Dependency-Permissions')
    return (int(perms, 8) & 0o700) if perms else 0o600
