"""Per-call scratch directories: made before a call, measured, removed after.

A storlet may need files (``tempfile``, a library that unpacks something).
Each call gets its own directory ``<root>/storlets-call-<owner pid>-<n>``
(``--scratch-root``, ``/tmp`` in the sandbox: the container's tmpfs), made by
the process that owns the call (a supervisor, or the Java front), mode 0700:

* a Python worker makes it its cwd, ``TMPDIR`` and ``HOME`` (and
  ``tempfile.tempdir``); every storlet also finds it as
  ``params['storlet_scratch_dir']`` (the only way for a Java call: calls of
  one Java storlet are threads of one JVM, which share the cwd, the
  environment and ``java.io.tmpdir``);
* its owner measures it while the call runs (``usage``, every
  ``CHECK_INTERVAL``) and ends the call past ``--max-scratch-size``;
* once nothing of the call runs any more, its owner removes it
  (``remove_tree``: whatever the storlet did with modes, depth, symlinks),
  then sweeps the root (``sweep``): whatever a call left directly in it,
  outside a scratch directory, is removed, and so are the scratch
  directories of owners that died (a storlet can SIGKILL a supervisor).

Outside the scratch directories, what is in the root itself and in the
*watched* directories (``Limits.watched_dirs``: the runtime directory, a
bind mount of a host directory on the host's disk, where the agent keeps only
sockets) counts against every running call (``shared_usage``): a call that
fills them fails, and so may the other calls of the sandbox running then.
They are swept after each call too (sockets kept in the watched ones).

Not contained: every call of a sandbox runs as the same uid, so a storlet
can reach another call's directory of the same account if it finds it, and
can hide files from the sweep by naming a directory like a live owner's
(``storlets-call-<live agent pid>-...``), until that process ends. The
sweep removes a concurrent call's files written directly in the root.
``/dev/shm`` (Docker's own 64 MiB tmpfs) is neither measured nor swept.
``--max-file-size`` still caps each file. The agent runs as the storlets'
uid: removing or chmod-ing what a storlet planted (even a
symlink swapped in during a sweep) can do nothing the storlet could not.
"""
import os
import stat

#: Prefix of every scratch directory's name in the root.
PREFIX = 'storlets-call-'
#: Seconds between two measurements of a running call's directory.
CHECK_INTERVAL = 0.2
#: What each entry (file, directory, link) counts on top of its blocks: an
#: inode and a dentry are memory on a tmpfs too, and the count bounds how
#: long a measurement takes (it stops once past the limit).
ENTRY_COST = 4096

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def create(root, owner, number):
    """Make and return a new scratch directory of ``owner`` (a pid)."""
    path = os.path.join(root, '%s%d-%d' % (PREFIX, owner, number))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        remove_tree(path)   # a dead owner's, whose pid we now have
        os.mkdir(path, 0o700)
    return path


def usage(path, limit=None):
    """Bytes the tree at ``path`` takes (blocks, plus ENTRY_COST per entry);
    stops counting (and returns what it has) once past ``limit``.

    Never follows a symlink; a directory the storlet made unreadable is
    made readable (its owner's mode bits only) to be counted.
    """
    total = 0
    pending = [path]
    while pending:
        top = pending.pop()
        try:
            entries = _scan(top)
        except OSError:
            continue
        for entry in entries:
            total += ENTRY_COST
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass   # gone meanwhile
            if limit is not None and total > limit:
                return total
    return total


def _scan(path):
    try:
        with os.scandir(path) as it:
            return list(it)
    except PermissionError:
        os.chmod(path, 0o700)   # nobody else runs: no race (see remove_tree)
        with os.scandir(path) as it:
            return list(it)


def remove_tree(path):
    """Remove ``path`` and everything below it; True if it is gone.

    Only once no process of the call runs any more (nothing changes the
    tree meanwhile). Walks with descriptors, one directory open at a time,
    so neither the depth of the tree nor the length of its paths matters;
    never follows a symlink (it removes the link); makes each directory
    writable and searchable by its owner before emptying it.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return True
    os.chmod(path, 0o700)
    fd = os.open(path, _DIR_FLAGS)
    names = []          # the path from ``path`` down to ``fd``
    try:
        while True:
            child = None
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = entry.name
                        break
                    try:
                        os.unlink(entry.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
            if child is not None:
                os.chmod(child, 0o700, dir_fd=fd)   # a directory, not a link
                below = os.open(child, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = below
                names.append(child)
                continue
            if not names:
                break
            above = os.open('..', _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = above
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)
    return True


def _owner_alive(name):
    """Is the owner pid in a scratch directory's name alive?"""
    try:
        pid = int(name[len(PREFIX):].split('-', 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _kept(root, name, keep, sockets):
    path = os.path.join(root, name)
    if path in keep or (name.startswith(PREFIX) and _owner_alive(name)):
        return True
    if sockets:
        try:
            return stat.S_ISSOCK(os.lstat(path).st_mode)
        except OSError:
            return True   # gone
    return False


def shared_usage(root, watched, limit=None):
    """Bytes held outside any live scratch directory: in ``root`` itself,
    and in the ``watched`` directories (sockets aside: the agent's own live
    there), as ``usage`` counts them; stops once past ``limit``."""
    total = 0
    for top, sockets in [(root, False)] + [(d, True) for d in watched]:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            if _kept(top, entry.name, (), sockets):
                continue
            total += ENTRY_COST
            try:
                if entry.is_dir(follow_symlinks=False):
                    total += usage(entry.path, None if limit is None
                                   else limit - total)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
            if limit is not None and total > limit:
                return total
    return total


def sweep(root, keep=(), sockets=False):
    """Remove from ``root`` everything but the scratch directories of live
    owners, the paths in ``keep`` and, with ``sockets``, the sockets;
    returns the names removed."""
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(root, name)
        if _kept(root, name, keep, sockets):
            continue
        try:
            remove_tree(path)
            removed.append(name)
        except OSError:
            pass  # changed under us (a call still runs): the next sweep
    return removed
