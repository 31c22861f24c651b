"""Validation of storlet and dependency uploads (registration).

Pure functions over the ``X-Object-Meta-Storlet-*`` headers of an upload,
with the parameter names as Swift title-cases them (``Language``, ``Main``,
``Dependency``...). Each raises ``RegistrationError`` whose message is the
exact ``400`` body the client receives.

``check_code_write`` holds the rules for *how* an object may land in a code
container (only as a plain upload, or a metadata update, whose headers are
then validated here); the middleware's docstring explains them.
"""
from storlets import languages

MAX_NAME_LENGTH = 255
MANDATORY_STORLET_PARAMS = (
    'Language', 'Interface-Version', 'Object-Metadata', 'Main')
#: The storlet interface this engine runs (published in /info).
INTERFACE_VERSION = '1.0'
SUPPORTED_INTERFACE_VERSIONS = (INTERFACE_VERSION,)
#: Headers making a write store something other than the uploaded bytes:
#: a copy (Swift's ``copy``), a DLO or SLO manifest, a symlink.
INDIRECT_WRITE_HEADERS = (
    'X-Copy-From', 'X-Copy-From-Account', 'Destination',
    'Destination-Account', 'X-Object-Manifest', 'X-Static-Large-Object',
    'X-Symlink-Target', 'X-Symlink-Target-Account',
    'X-Symlink-Target-Etag')
#: Container headers turning on versioning, whose restores copy old
#: objects back into the container behind this filter.
VERSIONING_HEADERS = ('X-Versions-Location', 'X-History-Location',
                      'X-Versions-Enabled')
UPLOAD_INSTEAD = ('%s: only a plain upload (PUT of the code itself) or a '
                  'metadata update (POST) can write to the %s container; '
                  'upload the code instead')


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


def check_code_write(method, headers, query, container):
    """Refuse a write into the code container ``container`` that would
    store anything but the request's own body and validated metadata.

    ``headers`` and ``query`` are the request's (dict-like); ``method`` is
    PUT, POST or COPY (a COPY *into* the container).
    """
    if method == 'COPY':
        raise RegistrationError(UPLOAD_INSTEAD % ('Copy', container))
    for name in INDIRECT_WRITE_HEADERS:
        if name in headers:
            raise RegistrationError(UPLOAD_INSTEAD % (name, container))
    if 'multipart-manifest' in query:
        raise RegistrationError(UPLOAD_INSTEAD % (
            'Static large object manifest', container))


def check_container_write(headers, container):
    """Refuse container headers that would let objects land in the code
    container ``container`` without passing this filter (versioning)."""
    for name in VERSIONING_HEADERS:
        value = headers.get(name, '').strip().lower()
        if name == 'X-Versions-Enabled':
            # Swift's true values (config_true_value)
            value = value in ('true', '1', 'yes', 'on', 't', 'y')
        if value:
            raise RegistrationError(
                '%s cannot be set on the %s container: its restores would '
                'store code that was never validated' % (name, container))


def dependency_names(value):
    """Split a ``Dependency`` value into names (no trimming, like upstream)."""
    return value.split(',') if value else []


def validate_storlet(name, params):
    """Validate a storlet upload named ``name`` with metadata ``params``."""
    for key in MANDATORY_STORLET_PARAMS:
        if key not in params:
            raise RegistrationError('Mandatory parameter is missing: %s' % key)
    if params['Interface-Version'] not in SUPPORTED_INTERFACE_VERSIONS:
        raise RegistrationError('Unsupported Interface-Version: %s '
                                '(supported: %s)' % (
                                    params['Interface-Version'],
                                    ', '.join(SUPPORTED_INTERFACE_VERSIONS)))
    try:
        languages.by_name(params['Language']).validate(name, params)
    except languages.LanguageError as err:
        raise RegistrationError(str(err))
    check_object_name(name)
    deps = dependency_names(params.get('Dependency', ''))
    if name in deps:
        raise RegistrationError(
            'Using the same name for storlet and dependency is not allowed')
    if len(set(deps)) != len(deps):
        raise RegistrationError('Duplicated name in dependencies')
    for dep in deps:
        check_object_name(dep, 'Dependency')


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
