"""The node's cache of storlet code, one directory per storlet version.

Layout under ``<host_root>/cache/<scope>/`` (mounted read-only into the
account's sandbox at ``/var/lib/storlets``)::

    <key>/<storlet object name>      the storlet file
    <key>/<dependency name>          each dependency

``key`` is a hash of the storlet's name, ETag, timestamp and dependency
names, so a re-uploaded storlet gets a new directory (and a new daemon) on
the very next request, and in-flight calls of the old version keep theirs.
What is fetched must be at least the version the key names: an object
whose ``X-Timestamp`` is older than the one the proxy described (a replica
that missed a re-upload) is refused, never cached under that key; a newer
one (a re-upload since the proxy looked) is kept. A directory is filled
under a temporary name and renamed into place, so a half-fetched version
is never visible. Names were validated before they get here
(``registration.check_object_name``).

A call holds a shared ``flock`` on its version's directory for as long as it
runs (``acquire``); the fetch of a new version holds its temporary directory
exclusively. Outside the mounted tree, ``<host_root>/versions/<scope>/<key>``
records each version's storlet name and timestamp; its mtime is the version's
last use (touched at most every ``touch_interval`` seconds per process).

Collection (``collect_scope``, run off the hot path by the gateway) removes
a version that no call holds once it is superseded (a newer version of the
same storlet name is cached), or unused for ``ttl`` seconds (a deleted
storlet: the node never learns of the deletion), and then the least
recently used ones beyond ``max_versions`` or ``max_bytes`` per scope; also
temporary directories that no fetch holds (a crashed fetch). A version is
removed under its exclusive lock by renaming it into ``<host_root>/trash``,
so several processes may collect at once; the trash is emptied afterwards.
"""
import hashlib
import json
import os
import shutil
import time
import uuid

from storlets.errors import StorletCodeError
from storlets.gateway import locks
from storlets.gateway.registration import check_object_name, dependency_mode


def version_key(storlet):
    """Short hex key naming one version of a storlet and its dependencies."""
    ident = json.dumps([storlet.name, storlet.etag, storlet.timestamp,
                        list(storlet.dependencies),
                        list(storlet.dependency_versions), storlet.main,
                        storlet.language_version])
    return hashlib.sha256(ident.encode('utf-8')).hexdigest()[:20]


#: A temporary directory younger than this is a fetch in progress.
TMP_MIN_AGE = 60.0


class CodeCache:

    def __init__(self, root, owner=None, touch_interval=5.0):
        #: ``<host_root>/cache``
        self.root = root
        #: (uid, gid) that must own the files, or None to leave them as-is
        self.owner = owner
        host_root = os.path.dirname(root)
        #: ``<host_root>/versions``: name, timestamp and last use of each key
        self.versions_root = os.path.join(host_root, 'versions')
        #: ``<host_root>/trash``: what collection removes, before deletion
        self.trash = os.path.join(host_root, 'trash')
        self.touch_interval = touch_interval
        self._touched = {}

    def scope_dir(self, scope):
        return os.path.join(self.root, scope)

    def version_file(self, scope, key):
        return os.path.join(self.versions_root, scope, key)

    def acquire(self, scope, account, storlet, source, timeout=10.0):
        """Cache this storlet version and lock it for one call.

        Returns ``(key, held)``: ``held`` keeps the collector off the
        version until it is released (when the call's result is closed).
        """
        deadline = time.monotonic() + timeout
        while True:
            key = self.ensure(scope, account, storlet, source)
            held = locks.acquire(os.path.join(self.scope_dir(scope), key),
                                 timeout=max(0.0, deadline - time.monotonic()),
                                 create=False)
            if held is not None:
                self._touch(scope, key, storlet)
                return key, held
            if time.monotonic() >= deadline:
                raise StorletCodeError('Storlet code of %s stayed locked for '
                                       '%ss' % (storlet.name, timeout))
            # removed by the collector meanwhile: fetch it again

    def _touch(self, scope, key, storlet):
        now = time.monotonic()
        if now - self._touched.get((scope, key), -1e9) < self.touch_interval:
            return
        self._touched[(scope, key)] = now
        path = self.version_file(scope, key)
        try:
            os.utime(path)
            return
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = '%s.%s' % (path, uuid.uuid4().hex[:8])
        with open(tmp, 'w') as f:
            json.dump({'name': storlet.name, 'timestamp': storlet.timestamp,
                       'created': time.time()}, f)
        os.rename(tmp, path)

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
        # held while fetching: the collector leaves a live fetch alone
        fetching = locks.acquire(tmp, exclusive=True, timeout=0,
                                 create=False)
        try:
            if fetching is None:
                raise StorletCodeError('Cannot cache %s: its temporary '
                                       'directory was removed' % storlet.name)
            self._fetch(source, account, 'storlet', storlet.name, tmp,
                        lambda headers: 0o600, storlet.timestamp)
            dep_timestamps = [v.rpartition('@')[2]
                              for v in storlet.dependency_versions]
            for i, dep in enumerate(storlet.dependencies):
                self._fetch(source, account, 'dependency', dep, tmp,
                            _dependency_mode_from_headers,
                            dep_timestamps[i] if i < len(dep_timestamps)
                            else '')
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):   # lost a race: fine
                    raise
        finally:
            if fetching is not None:
                fetching.release()
            shutil.rmtree(tmp, ignore_errors=True)
        return key

    # -- collection ---------------------------------------------------------

    def scopes(self):
        """Every scope with a cache or version directory on this node."""
        found = set()
        for root in (self.root, self.versions_root):
            try:
                # not the spare sandboxes' directories (.spare-<id>)
                found.update(n for n in os.listdir(root)
                             if not n.startswith('.'))
            except FileNotFoundError:
                pass
        return found

    def versions(self, scope):
        """``{key: (name or None, timestamp, created, last_used)}``."""
        try:
            entries = os.listdir(self.scope_dir(scope))
        except FileNotFoundError:
            return {}
        found = {}
        for key in entries:
            if key.startswith('.'):
                continue
            info = {}
            path = self.version_file(scope, key)
            try:
                with open(path) as f:
                    info = json.load(f)
                last_used = os.stat(path).st_mtime
            except (OSError, ValueError):
                try:
                    last_used = os.stat(
                        os.path.join(self.scope_dir(scope), key)).st_mtime
                except OSError:
                    continue
            if not isinstance(info, dict):
                info = {}
            found[key] = (info.get('name'), str(info.get('timestamp', '')),
                          info.get('created', 0.0), last_used)
        return found

    def collect_scope(self, scope, ttl, max_versions=0, max_bytes=0,
                      on_remove=None, now=None):
        """Remove the scope's collectable versions; return their keys.

        ``on_remove(key)`` runs for each while its lock is held (to stop
        the version's daemon). Versions a call holds are never removed.
        """
        now = time.time() if now is None else now
        self._collect_tmp(scope, now)
        versions = self.versions(scope)
        newest = {}
        for key, (name, timestamp, created, _) in versions.items():
            if name is not None and (name not in newest or (
                    timestamp, created) > versions[newest[name]][1:3]):
                newest[name] = key
        doomed = [key for key, (name, _, _, last_used) in versions.items()
                  if now - last_used > ttl
                  or (name is not None and newest[name] != key)]
        removed = [key for key in doomed
                   if self._remove_version(scope, key, on_remove)]
        left = sorted((v[3], key) for key, v in versions.items()
                      if key not in removed)
        sizes = {key: self._size(scope, key) for _, key in left} \
            if max_bytes else {}
        while left and (max_versions and len(left) > max_versions or
                        max_bytes and sum(sizes.values()) > max_bytes):
            _, key = left.pop(0)   # the least recently used
            if self._remove_version(scope, key, on_remove):
                removed.append(key)
                sizes.pop(key, None)
        return removed

    def _size(self, scope, key):
        total = 0
        try:
            with os.scandir(os.path.join(self.scope_dir(scope), key)) as it:
                for entry in it:
                    total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            pass
        return total

    def _remove_version(self, scope, key, on_remove):
        path = os.path.join(self.scope_dir(scope), key)
        held = locks.acquire(path, exclusive=True, timeout=0, create=False)
        if held is None:
            return False          # a call uses it (or it is gone)
        with held:
            if on_remove:
                on_remove(key)
            self.to_trash(path)
            try:
                os.unlink(self.version_file(scope, key))
            except FileNotFoundError:
                pass
        self._touched.pop((scope, key), None)
        return True

    def _collect_tmp(self, scope, now):
        """Temporary directories of crashed fetches (nobody holds them)."""
        try:
            entries = os.listdir(self.scope_dir(scope))
        except FileNotFoundError:
            return
        for name in entries:
            if not name.startswith('.tmp-'):
                continue
            path = os.path.join(self.scope_dir(scope), name)
            try:
                if now - os.stat(path).st_mtime < TMP_MIN_AGE:
                    continue
            except OSError:
                continue
            held = locks.acquire(path, exclusive=True, timeout=0,
                                 create=False)
            if held is not None:
                with held:
                    self.to_trash(path)

    def remove_scope(self, scope):
        """Move a scope's whole cache away; the caller ensures that no call
        and no sandbox of the scope exists (scope and node locks)."""
        self.to_trash(self.scope_dir(scope))
        self.to_trash(os.path.join(self.versions_root, scope))
        for key in [k for k in self._touched if k[0] == scope]:
            del self._touched[key]

    def to_trash(self, path):
        os.makedirs(self.trash, mode=0o700, exist_ok=True)
        try:
            os.rename(path, os.path.join(self.trash, uuid.uuid4().hex))
        except FileNotFoundError:
            pass

    def empty_trash(self):
        """Delete what was moved to the trash (by any process)."""
        try:
            entries = os.listdir(self.trash)
        except FileNotFoundError:
            return
        for name in entries:
            path = os.path.join(self.trash, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def _fetch(self, source, account, kind, name, directory, mode_of,
               timestamp=''):
        """Fetch one code object into ``directory``; ``timestamp``, if
        given, is the ``X-Timestamp`` the object must have."""
        check_object_name(name, kind.title())
        headers, body = source.fetch(account, kind, name)
        path = os.path.join(directory, name)
        try:
            _check_version(kind, name, headers, timestamp)
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


def _check_version(kind, name, headers, timestamp):
    """Refuse a fetched object older than the version the proxy saw: a
    replica that missed a re-upload (Swift always sends ``X-Timestamp``; a
    source that sends none is trusted). A newer one was uploaded after the
    proxy looked: it is what the user would run now, so it is kept (the
    key it is filed under is already superseded)."""
    got = headers.get('X-Timestamp')
    if not timestamp or got is None:
        return
    try:
        stale = _order(got) < _order(timestamp)
    except ValueError:
        stale = True
    if stale:
        raise StorletCodeError(
            'The %s %s fetched is older than the version to run (timestamp '
            '%s, expected %s): a replica missed an upload; try again'
            % (kind, name, got, timestamp), status=503)


def _order(timestamp):
    """A Swift ``X-Timestamp`` (``1700000000.12345``, maybe with an
    ``_<hex offset>``) as a sortable value; ValueError if it is not one."""
    seconds, _, offset = timestamp.partition('_')
    return float(seconds), int(offset or '0', 16)


def _dependency_mode_from_headers(headers):
    perms = headers.get('X-Object-Meta-Storlet-Dependency-Permissions')
    try:
        return dependency_mode(
            {'Dependency-Permissions': perms} if perms else {})
    except ValueError:
        return 0o600
