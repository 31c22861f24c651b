"""Node-wide locks shared by every Swift process of a node (``flock``).

All proxies and object servers of a node share one dockerd and one
``host_root``, so their gateways coordinate through ``flock`` on files
under ``host_root``:

``locks/.node`` (exclusive)
    held while counting, evicting and starting sandboxes, and while the
    cache collector removes a whole scope.
``locks/<scope>`` (shared per call, exclusive to evict)
    a call holds it shared from before it connects to the sandbox until
    its result is closed; a sandbox is only removed by whoever holds it
    exclusively, taken without waiting: a scope with a call in flight is
    never evicted.
``cache/<scope>/<key>/`` (the directory itself; shared per call)
    the same for one cached storlet version and the cache collector.

``flock`` belongs to an open file description, so each holder opens the
path afresh: that excludes green threads of one process from each other as
well as processes. Waiting is green (non-blocking attempts and
``eventlet.sleep``), so a wait never stalls the server's other requests.
A lock file may be unlinked (or a directory renamed) by whoever holds it
exclusively; a locker that finds the path no longer names the inode it
locked starts over.
"""
import fcntl
import os
import time

import eventlet

#: Seconds between two attempts at a lock held by someone else.
POLL_INTERVAL = 0.02


class Held:
    """A lock held through an open descriptor; closing releases it.

    Released at the latest when garbage-collected, so a result that is
    dropped without being closed does not hold its lock for long.
    """

    def __init__(self, fd):
        self.fd = fd

    def release(self):
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    close = release
    __del__ = release

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()


def _names_inode(fd, path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def acquire(path, exclusive=False, timeout=None, create=True):
    """Lock ``path``; return a ``Held``, or None.

    ``create``: make the file (and its directory) if missing; otherwise
    ``path`` must exist (a directory, say) and None is returned once it does
    not. ``timeout``: seconds to wait for others to release it (None: no
    limit, 0: a single attempt); None is returned when it runs out.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | \
        fcntl.LOCK_NB
    while True:
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            if not create:
                return None
            os.makedirs(os.path.dirname(path), exist_ok=True)
            continue
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            if deadline is not None and time.monotonic() >= deadline:
                return None
            eventlet.sleep(POLL_INTERVAL)
            continue
        except BaseException:
            os.close(fd)
            raise
        if _names_inode(fd, path):
            return Held(fd)
        os.close(fd)   # unlinked or renamed while we waited: start over
