"""Helpers of the agent tests: a real factory process and test storlets.

``Agent`` starts ``python3 -m storlets_agent factory`` in a temporary
runtime directory, writes small storlets next to it, and talks to it with
``storlets.sbus.channel`` exactly as the gateway does. Every process the
agent starts carries a marker in its environment, so a test can list them
(and the fixture kills any that survive).
"""
import os
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

import pytest

from storlets.sbus import channel

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                    '..', '..', '..'))

STORLETS = textwrap.dedent('''
    import json, os, signal, socket, struct, subprocess, time

    class Echo:
        """Main input's metadata plus a count; output: every input in turn."""
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            self.logger.info('echo %d inputs' % len(in_files))
            metadata = in_files[0].get_metadata()
            metadata['inputs'] = len(in_files)
            out_files[0].set_metadata(metadata)
            for in_file in in_files:
                for chunk in in_file:
                    out_files[0].write(chunk)
            out_files[0].close()

    class Params:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            out_files[0].write(json.dumps(params))

    class Fds:
        """Output: {fd: what it is} for every descriptor of the worker; a
        socket's entry ends with " peer=<pid of the process at the other
        end>" and " parent=<pid>" names the worker's parent.

        With params['release'], first waits for that file to exist.
        """
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            if 'release' in params:
                WaitFor(None)(in_files, out_files, params)
                return
            fds = {}
            for name in os.listdir('/proc/self/fd'):
                try:
                    fds[name] = os.readlink('/proc/self/fd/' + name)
                except OSError:  # the directory listing itself
                    continue
                if fds[name].startswith('socket:'):
                    with socket.socket(fileno=os.dup(int(name))) as sock:
                        pid = struct.unpack('3i', sock.getsockopt(
                            socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
                    fds[name] += ' peer=%d parent=%d' % (pid, os.getppid())
            out_files[0].set_metadata({})
            out_files[0].write(json.dumps(fds))

    class Boom:
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            self.logger.info('about to fail')
            raise ValueError('boom')

    class Silent:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            pass

    class Suicide:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            os.kill(os.getpid(), signal.SIGKILL)

    class Hang:
        """Spawns a child, reports both pids, then never ends."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            child = subprocess.Popen(['/bin/sleep', '60'])
            out_files[0].set_metadata({})
            out_files[0].write('%d %d\\n' % (os.getpid(), child.pid))
            time.sleep(60)

    class WaitFor:
        """Writes "started", waits for the file params['release'], ends."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            out_files[0].write(b'started\\n')
            deadline = time.monotonic() + 10
            while not os.path.exists(params['release']):
                assert time.monotonic() < deadline, 'never released'
                time.sleep(0.01)
            out_files[0].write(b'done')

    class Rendezvous:
        """Succeeds only if params['count'] calls run at the same time."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            meeting = params['dir']
            open(os.path.join(meeting, str(os.getpid())), 'w').close()
            deadline = time.monotonic() + 5
            while len(os.listdir(meeting)) < int(params['count']):
                assert time.monotonic() < deadline, 'alone'
                time.sleep(0.01)
            out_files[0].set_metadata({})
''')

BROKEN = 'import no_such_module_xyz\n'

SLOW_IMPORT = textwrap.dedent('''
    import os, time
    deadline = time.monotonic() + float(os.environ.get('SLOW_FOR', '10'))
    while time.monotonic() < deadline and not os.path.exists(
            os.path.join(os.path.dirname(__file__), 'release')):
        time.sleep(0.01)
    class Slow:
        def __init__(self, logger):
            pass
''')


HOSTILE = textwrap.dedent('''
    import os, resource, signal, subprocess, sys, time

    def wait_release(params):
        # Until the file params['release'] exists (forever without one).
        while not os.path.exists(params.get('release', '/nonexistent')):
            time.sleep(0.01)

    def escape():
        # A sleep in a session of its own, and a grandchild that left the
        # worker's session and lost its parent: both try to outlive the call.
        sleeper = subprocess.Popen(['sleep', '1000'], start_new_session=True)
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.setpgid(0, 0)
                    os.write(w, b'%d' % os.getpid())
                    time.sleep(1000)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        os.close(w)
        grandchild = int(os.read(r, 32))
        os.close(r)
        return sleeper.pid, grandchild

    class Escape:
        # Output "<sleeper> <grandchild>"; then params['then']: return,
        # raise, hold (until params['release']), kill-supervisor,
        # stop-supervisor (and keep it stopped), then hold.
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            pids = escape()
            out_files[0].set_metadata({})
            out_files[0].write('%d %d\\n' % pids)
            then = params.get('then', 'return')
            if then == 'raise':
                raise RuntimeError('escaped')
            if then == 'hold':
                wait_release(params)
            if then == 'kill-supervisor':
                os.kill(os.getppid(), signal.SIGKILL)
                time.sleep(1000)
            if then == 'stop-supervisor':
                supervisor = os.getppid()
                if os.fork() == 0:
                    while True:
                        os.kill(supervisor, signal.SIGSTOP)
                        time.sleep(0.001)
                time.sleep(1000)

    class Pids:
        # Output "<worker pid> <supervisor pid>", then wait for release.
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            out_files[0].write('%d %d\\n' % (os.getpid(), os.getppid()))
            wait_release(params)

    class ForkBomb:
        # Every copy forks until fork() fails.
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            while True:
                os.fork()

    class Saturate:
        # Forks sleeping children until fork() fails, reports how many,
        # then holds until release.
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            count = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(1000)
                        os._exit(0)
                    count += 1
            except OSError as err:
                out_files[0].write('%d %s\\n' % (count, err.errno))
            wait_release(params)

    class Misbehave:
        # params['how'] picks the misbehaviour; 'fine' just works.
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            how = params.get('how', 'fine')
            out = out_files[0]
            if how == 'no-metadata-then-write':
                out.write(b'data')
            out.set_metadata({'how': how})
            out.write(b'partial')
            if how == 'write-after-close':
                out.close()
                out.write(b'more')
            elif how == 'close-early':
                out.close()
                wait_release(params)
                self.logger.info('still running after close')
            elif how == 'sys-exit':
                sys.exit(3)
            elif how == 'os-exit':
                os._exit(7)
            elif how == 'abort':
                os.abort()
            elif how == 'metadata-twice':
                out.set_metadata({})

    class InitRaises:
        def __init__(self, logger):
            raise ValueError('bad init')

    class LogFlood:
        # print(), then logs 64 MiB through the logger, then 8 MiB written
        # straight to the log descriptor.
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            print('printed line', flush=True)
            line = 'x' * (64 * 1024 - 100)
            for _ in range(1024):
                self.logger.info(line)
            chunk = b'y' * (1024 * 1024)
            for _ in range(8):
                os.write(self.logger._fd, chunk)
            out_files[0].set_metadata({})
            out_files[0].write(b'done')

    class BigOutput:
        # params['mib'] MiB of output; then, with params['file'], tries to
        # write params['file_mib'] MiB into that file. Metadata: the limits.
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({
                'fsize': str(resource.getrlimit(resource.RLIMIT_FSIZE)),
                'core': str(resource.getrlimit(resource.RLIMIT_CORE))})
            chunk = b'z' * (1024 * 1024)
            for _ in range(int(params.get('mib', '0'))):
                out_files[0].write(chunk)
            if 'file' in params:
                with open(params['file'], 'wb') as f:
                    for _ in range(int(params['file_mib'])):
                        f.write(chunk)
''')

SYNTAX_ERROR = 'class Oops(:\n    pass\n'


#: /proc/<pid>/comm of idle spares (storlets_agent.process.SPARE_NAME).
SPARE_NAME = b'storlets-spare'


def parent_of(pid):
    """The parent pid of ``pid`` (None if it is gone)."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as stat:
            return int(stat.read().rpartition(b')')[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def is_alive(pid):
    """True for a running process (zombies count as gone)."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            state = stat.read().rpartition(')')[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ('Z', 'X')


def wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def read_until_eof(fds, deadline, keep=None):
    """Read every fd to EOF at once; return {fd: bytes}. Closes them.

    ``keep``: {fd: bytes kept} (the rest is only counted); the result
    is then (size, first bytes) for those fds.
    """
    keep = keep or {}
    chunks = {fd: [] for fd in fds}
    sizes = {fd: 0 for fd in fds}
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    open_fds = set(fds)
    while open_fds:
        remaining = deadline - time.monotonic()
        assert remaining > 0, 'storlet output did not end'
        for fd, _ in poller.poll(remaining * 1000):
            chunk = os.read(fd, 1024 * 1024)
            if chunk:
                if sizes[fd] < keep.get(fd, sizes[fd] + 1):
                    chunks[fd].append(chunk)
                sizes[fd] += len(chunk)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)
    return {fd: (sizes[fd], b''.join(data)[:keep[fd]]) if fd in keep
            else b''.join(data) for fd, data in chunks.items()}


def read_line(fd, deadline=None):
    """One line (without its newline) from a pipe, byte by byte."""
    deadline = deadline or time.monotonic() + 10
    line = b''
    while not line.endswith(b'\n'):
        assert time.monotonic() < deadline, 'no line: %r' % line
        chunk = os.read(fd, 1)
        assert chunk, 'EOF after %r' % line
        line += chunk
    return line[:-1].decode()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def proc_exists(pid):
    """True while /proc has the pid at all (zombies included)."""
    return os.path.exists('/proc/%d' % pid)


def oom_score_adj(pid):
    with open('/proc/%d/oom_score_adj' % pid) as f:
        return int(f.read())


def rlimits(pid):
    """{'Max core file size': (soft, hard), ...} from /proc/<pid>/limits."""
    limits = {}
    with open('/proc/%d/limits' % pid) as f:
        for line in f.readlines()[1:]:
            name, values = line[:26].strip(), line[26:].split()
            limits[name] = tuple(values[:2])
    return limits


def free_uid():
    """A uid no process runs as (for an agent whose RLIMIT_NPROC counts)."""
    used = set()
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/status' % entry) as f:
                for line in f:
                    if line.startswith('Uid:'):
                        used.update(int(u) for u in line.split()[1:])
        except OSError:
            continue
    # At random: concurrent test runs must not share a uid (nor its count).
    return random.choice([uid for uid in range(61000, 62000)
                          if uid not in used])


def _others_may_run(path):
    """Can a uid that owns nothing and has no group execute ``path``?"""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o001:
        return False
    while path != '/':
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


def python_for_others():
    """A python 3 another uid can run (ours may sit in a private home)."""
    for candidate in (sys.executable, '/usr/bin/python3'):
        if os.path.exists(candidate) and _others_may_run(candidate):
            return candidate
    return None


def processes_of(uid):
    count = 0
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/status' % entry) as f:
                for line in f:
                    if line.startswith('Uid:'):
                        count += int(line.split()[1]) == uid
                        break
        except OSError:
            continue
    return count


class Result:
    def __init__(self, reply, metadata, output, log):
        self.reply = reply
        self.metadata = metadata
        self.output = output
        self.log = log


class Agent:
    """One factory process and its directories."""

    def __init__(self, base, *args, unprivileged=False, max_processes=None):
        """Start the factory in ``base`` with options ``args``.

        ``unprivileged``: if we are root, run the agent as an unused uid,
        as in the sandbox. ``max_processes``: run the agent with that
        RLIMIT_NPROC, unprivileged (root ignores the limit); if we are not
        root, the limit is on top of our own processes.
        """
        self.user = None
        self.proc = None
        self.agent_log = None
        self.run_dir = None
        self.mark = uuid.uuid4().hex
        python = sys.executable
        unprivileged = unprivileged or max_processes is not None
        if unprivileged and os.geteuid() == 0:
            python = python_for_others()
            if python is None:
                pytest.skip('requires a python that an unprivileged uid may run')
            self.user = free_uid()
            # tmp_path is private to root: use a directory the uid can use.
            base = tempfile.mkdtemp(prefix='sa-')
            os.chmod(base, 0o755)
        self.base = base
        try:
            self._start(python, args, max_processes)
        except BaseException:
            self.cleanup()  # the fixture only knows of started agents
            raise

    def _start(self, python, args, max_processes):
        base = self.base
        # AF_UNIX paths are limited to 107 bytes.
        run = os.path.join(base, 'run')
        self.run_dir = run if len(run) < 70 else tempfile.mkdtemp(prefix='sa-')
        os.makedirs(self.run_dir, exist_ok=True)
        if self.user is not None:
            os.chown(self.run_dir, self.user, self.user)
        self.storlet_dir = os.path.join(base, 'lib', 'test')
        os.makedirs(self.storlet_dir)
        self.write_storlet('teststorlets.py', STORLETS)
        self.write_storlet('broken.py', BROKEN)
        self.write_storlet('hostile.py', HOSTILE)
        self.write_storlet('syntaxerr.py', SYNTAX_ERROR)
        self.log_path = os.path.join(base, 'storlet.log')
        env = dict(os.environ, STORLETS_TEST_MARK=self.mark,
                   PYTHONDONTWRITEBYTECODE='1',
                   PYTHONPATH=os.pathsep.join(
                       [os.path.join(REPO, 'sandbox'), REPO]))
        self.agent_log = open(os.path.join(base, 'agent.log'), 'wb')
        extra = {}
        if self.user is not None:
            extra = dict(user=self.user, group=self.user, extra_groups=[])
        if max_processes is not None:
            if self.user is None:
                max_processes += processes_of(os.getuid())
            limit = (max_processes, max_processes)
            extra['preexec_fn'] = lambda: resource.setrlimit(
                resource.RLIMIT_NPROC, limit)
        self.proc = subprocess.Popen(
            [python, '-m', 'storlets_agent', 'factory',
             '--runtime-dir', self.run_dir] + list(args),
            env=env, stdin=subprocess.DEVNULL, stdout=self.agent_log,
            stderr=self.agent_log, **extra)
        self.factory_sock = os.path.join(self.run_dir, 'factory.sock')
        deadline = time.monotonic() + 10
        while True:
            try:
                assert self.call({'cmd': 'ping'}) == {'ok': True}
                break
            except OSError:
                assert self.proc.poll() is None, self.agent_output()
                assert time.monotonic() < deadline, 'factory did not start'
                time.sleep(0.01)

    def write_storlet(self, filename, source):
        with open(os.path.join(self.storlet_dir, filename), 'w') as f:
            f.write(source)

    def agent_output(self):
        with open(os.path.join(self.base, 'agent.log')) as f:
            return f.read()

    def call(self, message, timeout=10):
        return channel.call(self.factory_sock, message, timeout=timeout)

    def start(self, main, key=None, name=None, **fields):
        """start_daemon; returns (reply, key)."""
        key = key or uuid.uuid4().hex[:12]
        daemon = {'key': key, 'name': name or main, 'language': 'python',
                  'language_version': '3', 'main': main,
                  'path': self.storlet_dir}
        daemon.update(fields)
        return self.call({'cmd': 'start_daemon', 'daemon': daemon}), key

    def started(self, main, **kwargs):
        """start_daemon that must succeed; returns the daemon socket path."""
        reply, _ = self.start(main, **kwargs)
        assert reply['ok'], reply
        return os.path.join(self.run_dir, reply['socket'])

    def status(self):
        reply = self.call({'cmd': 'status'})
        assert reply['ok']
        return reply['daemons']

    def send_execute(self, daemon_sock, params=None, inputs=(b'',),
                     descriptions=None):
        """Send execute; return (connection, metadata fd, output fd).

        ``inputs``: bytes (fed through a pipe) or a path (opened).
        """
        fds = []
        for source in inputs:
            if isinstance(source, bytes):
                read_fd, write_fd = os.pipe()
                threading.Thread(target=self._feed, args=(write_fd, source),
                                 daemon=True).start()
                fds.append(read_fd)
            else:
                fds.append(os.open(source, os.O_RDONLY))
        out_r, out_w = os.pipe()
        meta_r, meta_w = os.pipe()
        log_fd = os.open(self.log_path,
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        sent = [fds[0], out_w, meta_w, log_fd] + fds[1:]
        message = {
            'cmd': 'execute', 'params': params or {},
            'inputs': descriptions or [
                {'metadata': {}, 'start': None, 'end': None} for _ in fds],
            'fds': ['input', 'output', 'metadata', 'log']
            + ['input'] * (len(fds) - 1)}
        conn = channel.connect(daemon_sock)
        try:
            channel.send_message(conn, message, sent)
        finally:
            channel.close_all(sent)  # the sandbox has its own copies now
        return conn, meta_r, out_r

    @staticmethod
    def _feed(fd, data):
        try:
            with open(fd, 'wb') as pipe:
                pipe.write(data)
        except BrokenPipeError:
            pass

    def execute(self, daemon_sock, timeout=10, keep=None, **kwargs):
        """Run one call to its end; return a Result.

        ``keep``: see read_until_eof (then output is (size, first bytes)).
        """
        deadline = time.monotonic() + timeout
        conn, meta_r, out_r = self.send_execute(daemon_sock, **kwargs)
        with conn:
            data = read_until_eof([meta_r, out_r], deadline,
                                  None if keep is None else {out_r: keep})
            reply, fds = channel.recv_message(conn, deadline)
        assert fds == []
        with open(self.log_path, errors='replace') as log:
            return Result(reply, data[meta_r], data[out_r], log.read())

    def truncate_log(self):
        open(self.log_path, 'w').close()

    def processes(self, spares=True):
        """Live processes started by this agent, the factory included.

        ``spares=False``: without the daemons' idle spares (see
        storlets_agent/spares.py), which wait for calls to come: the
        processes named SPARE_NAME that are children of a daemon (a child
        of the factory), and the ones named so below those. A process that
        ran a storlet, or a supervisor serving or finishing a call, does not
        have that name.
        """
        needle = ('STORLETS_TEST_MARK=%s' % self.mark).encode()
        found = {}
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/environ' % entry, 'rb') as f:
                    environ = f.read().split(b'\0')
                with open('/proc/%s/comm' % entry, 'rb') as f:
                    comm = f.read().rstrip(b'\n')
            except OSError:
                continue
            if needle in environ and is_alive(int(entry)):
                found[int(entry)] = (parent_of(int(entry)), comm)
        if not spares:
            daemons = {pid for pid, (ppid, _) in found.items()
                       if ppid == self.proc.pid}
            supervisors = {pid for pid, (ppid, comm) in found.items()
                           if ppid in daemons and comm == SPARE_NAME}
            for pid, (ppid, comm) in list(found.items()):
                if comm == SPARE_NAME and (pid in supervisors
                                           or ppid in supervisors):
                    del found[pid]
        return list(found)

    def spares(self):
        """Pids of the idle spares (see processes)."""
        every = set(self.processes())
        return sorted(every - set(self.processes(spares=False)))

    def terminate(self, timeout=10):
        """SIGTERM the factory and wait; return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def cleanup(self):
        """Stop the factory, kill what it left, remove our directories."""
        if self.proc is not None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                pass
            for pid in self.processes():
                os.kill(pid, signal.SIGKILL)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        if self.agent_log is not None:
            self.agent_log.close()
        if self.run_dir and not self.run_dir.startswith(self.base):
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.user is not None:
            shutil.rmtree(self.base, ignore_errors=True)
