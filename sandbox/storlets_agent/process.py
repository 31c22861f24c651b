"""Process plumbing shared by the factory, the daemons and the supervisors.

Logging, signals (``SignalQueue``, ``fork_blocked``), descriptor hygiene,
listening sockets, and the kernel knobs that keep storlet processes
contained:

``set_child_subreaper``
    ``prctl(PR_SET_CHILD_SUBREAPER)``: an orphan is re-parented to its
    nearest living subreaper ancestor instead of PID 1. The factory, every
    daemon and every call's supervisor are subreapers, so a storlet process
    that double-forks or calls setsid() still stays *below* its supervisor
    and can be found (and killed) there.
``set_dumpable(False)``
    The factory, the daemons and the supervisors cannot be ptraced or
    have their memory read by a storlet, which runs as the same uid.
``kill_descendants``
    SIGKILL every process below this one (by a /proc scan, repeated until
    none is left) and reap those that have become our children.
``set_parent_death_signal``
    ``prctl(PR_SET_PDEATHSIG)``: a spare (see spares.py) is SIGKILLed when
    the process that forked it dies, whatever killed that one.
``set_name``
    ``prctl(PR_SET_NAME)``: idle spares are called ``SPARE_NAME`` in ps and
    /proc/<pid>/comm; a spare that takes a call gets its old name back.

Nothing here needs a privilege: prctl and oom_score_adj (raising) are
allowed to any process, and SIGKILL only reaches our own uid.
"""
import ctypes
import ctypes.util
import os
import signal
import socket
import time

from storlets import layout

#: Signals SignalQueue turns into bytes; blocked across fork().
HANDLED_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT,
                   signal.SIGQUIT)
#: Longest one-line error text (replies, logs).
MAX_ERROR_TEXT = 2000

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NAME = 15
_PR_GET_NAME = 16
_PR_SET_CHILD_SUBREAPER = 36

#: /proc/<pid>/comm of an idle spare supervisor and of its idle worker.
SPARE_NAME = 'storlets-spare'


# -- per-call limits ---------------------------------------------------------

#: Defaults of the command line's --max-file-size, --max-log-size and
#: --max-scratch-size.
DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_LOG_SIZE = layout.MAX_LOG_SIZE
DEFAULT_MAX_SCRATCH_SIZE = 32 * 1024 * 1024
#: Default of --spares: supervisor+worker pairs a daemon keeps ready.
DEFAULT_SPARES = 1
#: Default of --calls-per-worker: calls one worker process serves in turn
#: (same storlet version, same sandbox) before a fresh one replaces it.
DEFAULT_CALLS_PER_WORKER = 100


class Limits:
    """Per-call limits, from the factory's command line (see worker.py and
    supervisor.py)."""

    def __init__(self, max_file_size=DEFAULT_MAX_FILE_SIZE,
                 max_log_size=DEFAULT_MAX_LOG_SIZE, scratch_root=None,
                 max_scratch_size=DEFAULT_MAX_SCRATCH_SIZE, watched_dirs=(),
                 calls_per_worker=DEFAULT_CALLS_PER_WORKER):
        self.max_file_size = max_file_size  # RLIMIT_FSIZE of a worker
        self.max_log_size = max_log_size    # log bytes kept per call
        # where each call gets its scratch directory (scratch.py); None:
        # no scratch directories, nothing swept
        self.scratch_root = scratch_root
        self.max_scratch_size = max_scratch_size  # 0: not measured
        # measured with every call's scratch, swept, sockets kept (scratch.py)
        self.watched_dirs = tuple(watched_dirs)
        # 1: a new worker process for every call (see worker.py)
        self.calls_per_worker = calls_per_worker

    def argv(self):
        """The options that give a daemon process these limits."""
        argv = ['--max-file-size=%d' % self.max_file_size,
                '--max-log-size=%d' % self.max_log_size,
                '--max-scratch-size=%d' % self.max_scratch_size,
                '--calls-per-worker=%d' % self.calls_per_worker]
        if self.scratch_root is not None:
            argv.append('--scratch-root=' + self.scratch_root)
        return argv


# -- logging ------------------------------------------------------------------

def log(who, message):
    """Write one line to stderr (captured by docker).

    os.write rather than sys.stderr: no io lock for a fork to inherit held,
    and nothing buffered for a child to write a second time.
    """
    line = 'storlets-agent %s[%d]: %s\n' % (who, os.getpid(), message)
    try:
        os.write(2, line.encode('utf-8', 'backslashreplace'))
    except OSError:
        pass


def one_line(err):
    """``"Type: message"`` on one line, for replies and logs."""
    text = str(err)
    name = type(err).__name__
    text = '%s: %s' % (name, text) if text else name
    return ' '.join(text.splitlines())[:MAX_ERROR_TEXT]


def describe_status(status):
    """A waitpid() status in words, for logs."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return 'exited with code %d' % code
    return 'was killed by signal %d (%s)' % (-code, signal.strsignal(-code))


# -- signals and fork ---------------------------------------------------------

def _queue_only(signum, frame):
    """Signal handler with nothing to do: see SignalQueue."""


class SignalQueue:
    """Signals delivered as bytes in a pipe that the poll loop reads.

    The Python-level handler is a no-op: the interpreter's C handler has
    already written the signal number to the wakeup fd, so all real work
    happens in the loop, never inside a handler.
    """

    def __init__(self):
        self.fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, _queue_only)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    def drain(self):
        """The set of signal numbers received since the last call."""
        signums = set()
        while True:
            try:
                data = os.read(self.fd, 256)
            except BlockingIOError:
                return signums
            if not data:
                return signums
            signums.update(data)


def fork_blocked():
    """os.fork() with HANDLED_SIGNALS blocked until the child resets them.

    Until then, a signal sent to the child would be written into the
    parent's wakeup pipe, which the child shares. The parent unblocks at
    once; the child calls reset_signals() and unblocks later.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    pid = 1
    try:
        pid = os.fork()
    finally:
        if pid:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
    return pid


def reset_signals():
    """In a new child: default handlers, no wakeup fd (still blocked)."""
    signal.set_wakeup_fd(-1)
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def unblock_signals():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)


# -- descriptors and sockets --------------------------------------------------

def close_fds_except(keep):
    """Close every descriptor but ``keep``.

    After a fork without exec, close-on-exec flags do nothing: a child
    that must not hold its parent's sockets has to close them itself.
    With close_range(2) (Linux 5.9) that is one call per gap between the
    kept descriptors; otherwise only what /proc/self/fd lists is closed
    (the limit may be ~1M descriptors, and closing them one by one is
    slow).
    """
    keep = sorted(set(fd for fd in keep if fd >= 0))
    if _close_range_works():
        low = 0
        for fd in keep + [_MAX_FD + 1]:
            if fd > low and _libc.close_range(low, fd - 1, 0) != 0:
                break  # e.g. forbidden by a seccomp filter after all
            low = fd + 1
        else:
            return
    keep = set(keep)
    try:
        candidates = [int(name) for name in os.listdir('/proc/self/fd')]
    except OSError:
        candidates = range(os.sysconf('SC_OPEN_MAX'))
    for fd in candidates:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:  # e.g. the listing's own, already closed
                pass


#: Highest descriptor number close_range(2) is asked about (unsigned int).
_MAX_FD = 0xfffffffe
_close_range_state = None


def _close_range_works():
    """Is close_range(2) there (libc and kernel) and allowed? Cached."""
    global _close_range_state
    if _close_range_state is None:
        _close_range_state = False
        libc = _load_libc()
        function = getattr(libc, 'close_range', None)
        if function is not None:
            function.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.c_int)
            function.restype = ctypes.c_int
            # Closes nothing: no process has that many descriptors.
            _close_range_state = function(_MAX_FD, _MAX_FD, 0) == 0
    return _close_range_state


def listen(path):
    """Listen on a Unix stream socket at ``path``, replacing a stale one.

    Returns ``(socket, identity)``; the identity lets the owner unlink the
    path later only if nobody has replaced the socket since.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # The gateway may run as another uid: the runtime directory, not
        # the socket mode, decides who may connect.
        os.chmod(path, 0o666)
        sock.listen(128)
        sock.setblocking(False)
        stat = os.stat(path)
    except BaseException:
        sock.close()
        raise
    return sock, (stat.st_dev, stat.st_ino)


def unlink_if_ours(path, identity):
    """Unlink the socket at ``path`` unless it has been replaced."""
    try:
        stat = os.stat(path)
        if (stat.st_dev, stat.st_ino) == identity:
            os.unlink(path)
    except FileNotFoundError:
        pass


# -- kernel knobs -------------------------------------------------------------

_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                            use_errno=True)
    return _libc


def _prctl(option, value):
    if _load_libc().prctl(option, value, ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def set_child_subreaper():
    """Adopt the orphans of our descendants (see the module docstring)."""
    _prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1))


def set_dumpable(flag):
    """``prctl(PR_SET_DUMPABLE)``: 0 forbids ptrace attach and /proc/<pid>/mem
    to processes of the same uid (i.e. storlets), and core dumps.

    Inherited by fork(), reset by execve(). /proc/<pid> of a non-dumpable
    process belongs to root, so a worker sets itself dumpable again before
    writing its own oom_score_adj.
    """
    _prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(1 if flag else 0))


def set_parent_death_signal(signum, parent):
    """Get ``signum`` when our parent dies; False if ``parent`` is gone.

    The setting only covers the parent we have when it is made: if
    ``parent`` died before, we already belong to a subreaper.
    """
    _prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signum))
    return os.getppid() == parent


def get_name():
    """This process's name (/proc/self/comm), as bytes."""
    buffer = ctypes.create_string_buffer(16)
    _prctl(_PR_GET_NAME, buffer)
    return buffer.value


def set_name(name):
    """Rename this process (15 bytes at most are kept)."""
    if isinstance(name, str):
        name = name.encode('utf-8', 'replace')
    _prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15]))


def set_oom_score_adj(value):
    """Write /proc/self/oom_score_adj (raising it needs no privilege)."""
    fd = os.open('/proc/self/oom_score_adj', os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b'%d\n' % value)
    finally:
        os.close(fd)


# -- finding and killing descendants ------------------------------------------

def _processes():
    """{pid: (ppid, state, start time)} of every process in /proc."""
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        fields = _stat(entry)
        if fields is not None:
            table[int(entry)] = fields
    return table


def _stat(pid):
    """(ppid, state, start time) of ``pid``, or None if it is gone."""
    try:
        with open('/proc/%s/stat' % pid, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses.
    fields = data[data.rfind(b')') + 2:].split()
    try:
        return int(fields[1]), fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def descendants(root, keep=()):
    """Processes below ``root``: ``{pid: (ppid, state, start time)}``.

    Neither a pid in ``keep`` nor anything below it is included.
    """
    table = _processes()
    children = {}
    for pid, fields in table.items():
        children.setdefault(fields[0], []).append(pid)
    found = {}
    stack = [root]
    while stack:
        for pid in children.get(stack.pop(), ()):
            if pid not in keep and pid not in found:
                found[pid] = table[pid]
                stack.append(pid)
    return found


def _kill_exact(pid, start_time):
    """SIGKILL ``pid`` if it still is the process that started then.

    A pidfd pins the process, so a pid reused since the /proc scan is
    never hit; without pidfd_open, the check-then-kill window is tiny.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (OSError, AttributeError):
        pidfd = None
    try:
        fields = _stat(pid)
        if fields is None or fields[2] != start_time:
            return
        if pidfd is None:
            os.kill(pid, signal.SIGKILL)
        else:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    finally:
        if pidfd is not None:
            os.close(pidfd)


def kill_descendants(keep=(), group=None, timeout=10.0):
    """SIGKILL every process below this one, except ``keep`` and below.

    Repeats scan-and-kill until nothing is left, reaping the ones that
    end up as our children (we are a subreaper, so that is where every
    orphan goes). ``group``: a process group to SIGKILL on each round too;
    killpg() is atomic with respect to fork(), which stops a fork bomb
    within one group at once. Pids in ``keep`` are never reaped here.

    Returns True once none is left, False after ``timeout`` seconds
    (unkillable processes, e.g. stuck in the kernel).
    """
    me = os.getpid()
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if group is not None:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        found = descendants(me, keep)
        live = False
        for pid, (ppid, state, start_time) in found.items():
            if state in (b'Z', b'X'):
                if ppid == me:
                    _reap_one(pid)
            else:
                live = True
                _kill_exact(pid, start_time)
        if not live and not any(ppid == me for ppid, _, _ in found.values()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _reap_one(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
