"""The node's cache of storlet code, one directory per storlet version.

Layout under ``<host_root>/cache/<scope>/`` (mounted read-only into the
account's sandbox at ``/var/lib/storlets``)::

    <key>/<storlet object name>      the storlet file
    <key>/<dependency name>          each dependency

``key`` is a hash of the storlet's name, ETag, timestamp and dependency
names, so a re-uploaded storlet gets a new directory (and a new daemon) on
the very next request, and in-flight calls of the old version keep theirs.
A directory is filled under a temporary name and renamed into place, so a
half-fetched version is never visible. Names were validated before they get
here (``registration.check_object_name``).
"""
import hashlib
import json
import os
import shutil
import uuid

from storlets.errors import StorletCodeError
from storlets.gateway.registration import check_object_name, dependency_mode


def version_key(storlet):
    """Short hex key naming one version of a storlet and its dependencies."""
    ident = json.dumps([storlet.name, storlet.etag, storlet.timestamp,
                        list(storlet.dependencies),
                        list(storlet.dependency_versions), storlet.main,
                        storlet.language_version])
    return hashlib.sha256(ident.encode('utf-8')).hexdigest()[:20]


class CodeCache:

    def __init__(self, root, owner=None):
        #: ``<host_root>/cache``
        self.root = root
        #: (uid, gid) that must own the files, or None to leave them as-is
        self.owner = owner

    def scope_dir(self, scope):
        return os.path.join(self.root, scope)

    def ensure(self, scope, account, storlet, source):
        """Make sure this storlet version is cached; return its key."""
        key = version_key(storlet)
        final = os.path.join(self.scope_dir(scope), key)
        if os.path.isdir(final):
            return key
        os.makedirs(self.scope_dir(scope), mode=0o755, exist_ok=True)
        tmp = os.path.join(self.scope_dir(scope),
                           '.tmp-%s-%s' % (key, uuid.uuid4().hex[:8]))
        os.mkdir(tmp, 0o755)
        try:
            self._fetch(source, account, 'storlet', storlet.name, tmp,
                        lambda headers: 0o600)
            for dep in storlet.dependencies:
                self._fetch(source, account, 'dependency', dep, tmp,
                            _dependency_mode_from_headers)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):   # lost a race: fine
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return key

    def _fetch(self, source, account, kind, name, directory, mode_of):
        check_object_name(name, kind.title())
        headers, body = source.fetch(account, kind, name)
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, 'wb') as out:
                for chunk in body:
                    out.write(chunk)
        except OSError as err:
            raise StorletCodeError('Cannot cache %s %s: %s'
                                   % (kind, name, err))
        finally:
            close = getattr(body, 'close', None)
            if close:
                close()
        if self.owner:
            os.chown(path, *self.owner)
        os.chmod(path, mode_of(headers))


def _dependency_mode_from_headers(headers):
    perms = headers.get('X-Object-Meta-Storlet-Dependency-Permissions')
    try:
        return dependency_mode(
            {'Dependency-Permissions': perms} if perms else {})
    except ValueError:
        return 0o600
