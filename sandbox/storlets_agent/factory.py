"""DaemonFactory: the sandbox's main process; starts and supervises daemons.

It listens on ``<runtime-dir>/factory.sock`` and answers ``ping``,
``start_daemon``, ``stop_daemon`` and ``status`` (see ``storlets.sbus``), one
request per connection.

``start_daemon`` forks a daemon from this warm process (or execs another
python for a different ``language_version``) and keeps the request's
connection until the daemon reports on its readiness pipe: ``ok`` once it has
imported the storlet and listens, or ``error <reason>``. Meanwhile the loop
goes on serving other requests, so a slow storlet import never delays a
ping. A daemon that is not ready after ``start_timeout`` is killed. When a
daemon becomes ready, ready daemons of the same storlet name with another
key, started before it, get SIGTERM: they finish their calls in flight and
exit (one still starting serves the calls waiting for it).

Like the daemons, the factory is a single-threaded poll loop, so that every
fork happens from a process with exactly one thread. Signal handlers only
queue (SignalQueue); children are reaped in one place (``_reap``); the only
record of children is ``self.daemons`` (``{pid: Daemon}``). A bad request or
a bad storlet costs an error reply, never the factory.

SIGTERM (or SIGINT): stop listening, send SIGTERM to every daemon, SIGQUIT
to those still running after ``stop_grace`` seconds (they kill their calls),
SIGKILL after QUIT_GRACE more; exit 0 once all are reaped.

Idle exit: with no daemon, no connection and no request for
``idle_timeout`` seconds, the factory shuts down the same way (exit 0), so
an unused sandbox container stops by itself. ``claim`` (the gateway's, when
a spare sandbox becomes an account's) sets a new ``idle_timeout``. A daemon serving calls keeps
the factory up; daemons have their own ``daemon_idle_timeout``.

The factory is a child subreaper: when a daemon dies, whatever it left
(supervisors, storlet processes) comes here and is killed.
"""
import functools
import glob
import os
import re
import signal
import time

import storlets
import storlets_agent
from storlets import layout
from storlets.sbus import channel
from storlets_agent.daemon import STRAY_KILL_TIMEOUT
from storlets_agent.exits import (
    DAEMON_CRASHED, DAEMON_START_FAILED, FACTORY_LISTEN_FAILED, FACTORY_OK)
from storlets_agent.java_front import (
    DEFAULT_JAVA_THREADS, DEFAULT_MAX_JAVA_DAEMONS, JAVA, JAVA_DIR)
from storlets_agent.languages import LANGUAGES, UnsupportedRuntime
from storlets_agent.process import (
    DEFAULT_SPARES, Limits, SignalQueue, close_fds_except, describe_status,
    fork_blocked, kill_descendants, listen, log, one_line, reset_signals,
    set_child_subreaper, set_dumpable, unblock_signals, unlink_if_ours)
from storlets_agent.serving import (
    REQUEST_TIMEOUT, ServeLoop, answer, ended_children, receive_request)


#: On shutdown, seconds between SIGQUIT and SIGKILL for daemons still there
#: (SIGTERM to SIGQUIT is the factory's ``stop_grace``).
QUIT_GRACE = 1.0

#: Daemon states.
STARTING, READY, STOPPING = 'starting', 'ready', 'stopping'

_KEY = re.compile(r'[A-Za-z0-9_-]{1,64}')
WHO = 'factory'


class RequestError(Exception):
    """A request the factory refuses; str() is the error sent back."""


class DaemonSpec:
    """What start_daemon asked for, checked."""

    def __init__(self, key, name, main, path, interpreter,
                 language='python'):
        self.key = key
        self.name = name
        self.main = main
        self.path = path
        self.interpreter = interpreter  # None: fork this interpreter
        self.language = language        # a key of languages.LANGUAGES

    @classmethod
    def from_request(cls, request, python_dir):
        if not isinstance(request, dict):
            raise RequestError('"daemon" must be an object')
        key = request.get('key')
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise RequestError('Invalid daemon key: %r' % (key,))
        fields = {}
        for field in ('name', 'main', 'path'):
            value = request.get(field)
            if not isinstance(value, str) or not value:
                raise RequestError('Missing or invalid "%s"' % field)
            fields[field] = value
        language = request.get('language', 'python')
        lang = LANGUAGES.get(language.lower()) \
            if isinstance(language, str) else None
        if lang is None:
            raise RequestError('Unsupported language: %s' % (language,))
        try:
            interpreter = lang.interpreter(request, python_dir)
        except UnsupportedRuntime as err:
            raise RequestError(str(err))
        return cls(key, interpreter=interpreter, language=lang.name,
                   **fields)


def _last_used(daemon):
    try:
        return os.stat(daemon.socket_path).st_mtime
    except OSError:
        return 0.0


class Daemon:
    """One daemon process, as the factory sees it."""

    def __init__(self, spec, pid, ready_fd, start_deadline, socket_path):
        self.spec = spec
        self.pid = pid
        self.state = STARTING
        self.ready_fd = ready_fd    # read end of its readiness pipe
        self.ready_data = b''
        self.waiters = []           # connections owed the start reply
        self.start_deadline = start_deadline
        self.socket_path = socket_path
        self.socket_id = None       # (st_dev, st_ino) of its socket once ready

    @property
    def key(self):
        return self.spec.key

    @property
    def name(self):
        return self.spec.name

    def __str__(self):
        return '%s/%s (pid %d)' % (self.name, self.key, self.pid)

    def signal(self, signum):
        # Registered daemons are not reaped yet, so the pid is still theirs.
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def serving(self):
        """Is its socket still the one it created?"""
        try:
            stat = os.stat(self.socket_path)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self.socket_id


class DaemonFactory(ServeLoop):
    """Serves factory.sock and owns every daemon of this sandbox."""

    who = WHO

    def __init__(self, runtime_dir, idle_timeout=600.0, start_timeout=30.0,
                 stop_grace=5.0, python_dir='/usr/bin',
                 daemon_idle_timeout=None, limits=None,
                 spares=DEFAULT_SPARES, java=JAVA, java_dir=JAVA_DIR,
                 java_threads=DEFAULT_JAVA_THREADS,
                 max_java_daemons=DEFAULT_MAX_JAVA_DAEMONS):
        self.runtime_dir = runtime_dir
        self.spares = spares        # spare pairs per daemon
        self.idle_timeout = idle_timeout
        self.daemon_idle_timeout = daemon_idle_timeout or idle_timeout
        self.limits = limits or Limits()
        self.last_activity = time.monotonic()  # last request or daemon
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.python_dir = python_dir
        self.java = java                # the JRE's launcher, for Java
        self.java_dir = java_dir        # API + daemon jars, JNI shim
        self.java_threads = java_threads
        self.max_java_daemons = max_java_daemons  # 0: no limit
        self.socket_path = os.path.join(runtime_dir, layout.FACTORY_SOCKET)
        self.daemons = {}          # {pid: Daemon}: the one registry
        self.pending = {}          # {conn: deadline}: request not read yet
        self.listener = None
        self.listener_id = None
        self.signals = None
        self.shutdown_steps = None  # [(deadline, signum)] once shutting down
        self.commands = {
            'ping': self.handle_ping,
            'start_daemon': self.handle_start_daemon,
            'stop_daemon': self.handle_stop_daemon,
            'status': self.handle_status,
            'claim': self.handle_claim,
        }

    def run(self):
        """Serve until SIGTERM or idle; return the exit code."""
        self.signals = SignalQueue()
        try:
            set_child_subreaper()
            set_dumpable(False)  # see process.set_dumpable
        except OSError as err:
            log(WHO, 'cannot set up the factory process: %s'
                % one_line(err))
        # Daemon sockets left by an earlier run would only refuse clients.
        for stale in glob.glob(os.path.join(glob.escape(self.runtime_dir),
                                            'd-*.sock')):
            try:
                os.unlink(stale)
            except OSError:
                pass
        try:
            self.listener, self.listener_id = listen(self.socket_path)
        except OSError as err:
            log(WHO, 'cannot listen on %s: %s'
                % (self.socket_path, one_line(err)))
            return FACTORY_LISTEN_FAILED
        log(WHO, 'listening on %s' % self.socket_path)
        self._loop()
        log(WHO, 'exiting')
        return FACTORY_OK

    # -- the loop

    def _done(self):
        return self.shutdown_steps is not None and not self.daemons

    def _handlers(self):
        handlers = {self.signals.fd: self._handle_signals}
        if self.listener is not None:
            handlers[self.listener.fileno()] = self._accept
        for conn in self.pending:
            handlers[conn.fileno()] = functools.partial(self._read_request,
                                                        conn)
        for daemon in self.daemons.values():
            if daemon.ready_fd is not None:
                handlers[daemon.ready_fd] = functools.partial(
                    self._read_ready, daemon)
        return handlers

    def _timeout(self):
        deadlines = list(self.pending.values())
        deadlines += [d.start_deadline for d in self.daemons.values()
                      if d.state == STARTING]
        if self.shutdown_steps:
            deadlines.append(self.shutdown_steps[0][0])
        if self._idle():
            deadlines.append(self.last_activity + self.idle_timeout)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _idle(self):
        return not (self.shutdown_steps is not None or self.daemons
                    or self.pending)

    def _expire(self, now):
        if self._idle() and now >= self.last_activity + self.idle_timeout:
            self._shutdown('idle for %g s' % self.idle_timeout)
            return
        for conn, deadline in list(self.pending.items()):
            if deadline <= now:
                del self.pending[conn]
                conn.close()
        for daemon in list(self.daemons.values()):
            if daemon.state == STARTING and daemon.start_deadline <= now:
                self._fail_start(daemon, 'Storlet daemon for %s did not '
                                 'start within %g s'
                                 % (daemon.name, self.start_timeout))
                daemon.state = STOPPING
                daemon.signal(signal.SIGKILL)
        while self.shutdown_steps and self.shutdown_steps[0][0] <= now:
            _, signum = self.shutdown_steps.pop(0)
            for daemon in self.daemons.values():
                log(WHO, 'sending %s to daemon %s'
                    % (signal.Signals(signum).name, daemon))
                daemon.signal(signum)

    def _sockets(self):
        """Every socket object this process owns (a child detaches them)."""
        if self.listener is not None:
            yield self.listener
        yield from self.pending
        for daemon in self.daemons.values():
            yield from daemon.waiters

    # -- requests

    def _accept(self):
        if self.listener is None:
            return
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log(WHO, 'accept failed: %s' % one_line(err))
            return
        conn.setblocking(False)
        self.last_activity = time.monotonic()
        self.pending[conn] = self.last_activity + REQUEST_TIMEOUT

    @staticmethod
    def _reply(conn, message):
        answer(conn, message, WHO)

    def _read_request(self, conn):
        if self.pending.pop(conn, None) is None:
            return
        request = receive_request(conn, WHO)
        if request is None:
            return
        message, fds = request
        channel.close_all(fds)  # no factory command takes descriptors
        command = message.get('cmd')
        handler = self.commands.get(command)
        try:
            if handler is None:
                raise RequestError('Unknown command: %r' % (command,))
            reply = handler(message, conn)
        except RequestError as err:
            reply = {'ok': False, 'error': str(err)}
        if reply is not None:  # None: the reply comes when a daemon is up
            self._reply(conn, reply)

    def handle_ping(self, message, conn):
        return {'ok': True}

    def handle_status(self, message, conn):
        return {'ok': True, 'daemons': {
            d.key: {'name': d.name, 'pid': d.pid}
            for d in self.daemons.values() if d.state == READY}}

    def handle_claim(self, message, conn):
        """A spare sandbox becomes an account's: from now on it idles out
        after ``idle_timeout`` seconds without daemons (a spare waits
        longer, for an account to claim it)."""
        timeout = message.get('idle_timeout')
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not timeout > 0:
            raise RequestError('Invalid idle_timeout: %r' % (timeout,))
        self.idle_timeout = float(timeout)
        return {'ok': True}

    def handle_stop_daemon(self, message, conn):
        key = message.get('key')
        if not isinstance(key, str):
            raise RequestError('Invalid daemon key: %r' % (key,))
        for daemon in list(self.daemons.values()):
            if daemon.key == key:
                self._stop(daemon, 'stop_daemon request')
        return {'ok': True}

    def handle_start_daemon(self, message, conn):
        spec = DaemonSpec.from_request(message.get('daemon'), self.python_dir)
        current = next((d for d in self.daemons.values()
                        if d.key == spec.key and d.state != STOPPING), None)
        if current is not None and current.state == READY:
            if current.serving():
                return self._ready_reply(current)
            # Its socket is gone: it is exiting (idle) or broken.
            self._stop(current, 'its socket is gone')
        elif current is not None:
            current.waiters.append(conn)
            return None
        self._make_room(spec.language)
        self._spawn(spec, conn).waiters.append(conn)
        return None

    def _make_room(self, language):
        """Keep at most the language's ``max_daemons`` daemons (Java:
        ``max_java_daemons``): stop the least recently used ready ones
        (they finish their calls in flight first); a stopped one comes
        back on its next call. A daemon's last use is its socket's mtime
        (the daemon touches it)."""
        lang = LANGUAGES[language]
        limit = lang.max_daemons(self)
        if limit <= 0:
            return
        same = [d for d in self.daemons.values()
                if d.spec.language == language and d.state != STOPPING]
        ready = sorted((d for d in same if d.state == READY),
                       key=_last_used)
        for victim in ready[:max(0, len(same) + 1 - limit)]:
            self._stop(victim, 'at most %d %s daemons per sandbox'
                       % (limit, lang.title))

    @staticmethod
    def _ready_reply(daemon):
        return {'ok': True, 'socket': os.path.basename(daemon.socket_path)}

    # -- starting daemons

    def _spawn(self, spec, conn):
        socket_path = os.path.join(self.runtime_dir,
                                   layout.daemon_socket(spec.key))
        try:
            ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
            try:
                pid = fork_blocked()
            except OSError:
                channel.close_all([ready_r, ready_w])
                raise
        except OSError as err:
            raise RequestError('Cannot start the storlet daemon: %s'
                               % one_line(err))
        if pid == 0:
            self._become_daemon(spec, ready_w, conn)  # does not return
        os.close(ready_w)
        os.set_blocking(ready_r, False)
        daemon = Daemon(spec, pid, ready_r,
                        time.monotonic() + self.start_timeout, socket_path)
        self.daemons[pid] = daemon
        log(WHO, 'starting daemon %s for %s' % (daemon, spec.main))
        return daemon

    def _become_daemon(self, spec, ready_fd, conn):
        """The child of _spawn: turn into the storlet daemon, never return."""
        try:
            reset_signals()
            for sock in list(self._sockets()) + [conn]:
                sock.detach()  # so no object closes a reused number later
            close_fds_except([0, 1, 2, ready_fd])
            if spec.interpreter:
                self._exec_daemon(spec, ready_fd)
        except BaseException as err:
            try:
                os.write(ready_fd, ('error Cannot start the storlet daemon: '
                                    '%s\n' % one_line(err)).encode('utf-8'))
            finally:
                os._exit(DAEMON_START_FAILED)
        code = DAEMON_CRASHED
        try:
            code = LANGUAGES[spec.language].serve(self, spec, ready_fd)
        except BaseException as err:
            log('daemon %s/%s' % (spec.name, spec.key),
                'crashed: %s' % one_line(err))
        finally:
            os._exit(code)

    def _exec_daemon(self, spec, ready_fd):
        """Replace this child by ``python<v> -m storlets_agent daemon``."""
        os.set_inheritable(ready_fd, True)
        env = dict(os.environ)
        # The new interpreter must find the agent where this one did.
        paths = [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
        for package in (storlets, storlets_agent):
            root = os.path.dirname(os.path.dirname(package.__file__))
            if root not in paths:
                paths.append(root)
        env['PYTHONPATH'] = os.pathsep.join(paths)
        # "--opt=value": a value may start with "-".
        argv = [spec.interpreter, '-B', '-m', 'storlets_agent', 'daemon',
                '--runtime-dir=' + self.runtime_dir, '--key=' + spec.key,
                '--name=' + spec.name, '--main=' + spec.main,
                '--path=' + spec.path,
                '--idle-timeout=%r' % self.daemon_idle_timeout,
                '--spares=%d' % self.spares,
                '--ready-fd=%d' % ready_fd] + self.limits.argv()
        unblock_signals()
        os.execve(spec.interpreter, argv, env)

    def _read_ready(self, daemon):
        line = self._ready_line(daemon)
        if line is None:
            return
        if line == 'ok':
            self._on_ready(daemon)
            return
        error = line[len('error '):] if line.startswith('error ') else (
            'Storlet daemon for %s exited during start' % daemon.name)
        self._fail_start(daemon, error)
        daemon.state = STOPPING
        daemon.signal(signal.SIGKILL)

    @staticmethod
    def _ready_line(daemon):
        """The readiness line once complete (or at EOF), else None."""
        if daemon.ready_fd is None:
            return None
        while b'\n' not in daemon.ready_data:
            try:
                chunk = os.read(daemon.ready_fd, 4096)
            except BlockingIOError:
                return None
            if not chunk:
                break
            daemon.ready_data += chunk
        os.close(daemon.ready_fd)
        daemon.ready_fd = None
        return daemon.ready_data.partition(b'\n')[0].decode('utf-8',
                                                            'replace')

    def _on_ready(self, daemon):
        try:
            stat = os.stat(daemon.socket_path)
        except OSError as err:
            self._fail_start(daemon, 'Storlet daemon for %s has no socket: %s'
                             % (daemon.name, one_line(err)))
            daemon.state = STOPPING
            daemon.signal(signal.SIGKILL)
            return
        daemon.socket_id = (stat.st_dev, stat.st_ino)
        daemon.state = READY
        log(WHO, 'daemon %s is ready' % daemon)
        for conn in daemon.waiters:
            self._reply(conn, self._ready_reply(daemon))
        daemon.waiters = []
        # Older versions of this storlet that are serving go (they finish
        # their calls in flight). One still starting is left alone: calls
        # wait for it (a re-upload racing calls); it idles out later.
        for other in list(self.daemons.values()):
            if other.name == daemon.name and other.key != daemon.key \
                    and other.state == READY \
                    and other.start_deadline < daemon.start_deadline:
                self._stop(other, 'replaced by %s' % daemon.key)

    def _fail_start(self, daemon, error):
        """Tell whoever waits for ``daemon`` that it will not start."""
        if daemon.ready_fd is not None:
            os.close(daemon.ready_fd)
            daemon.ready_fd = None
        log(WHO, 'daemon %s failed to start: %s' % (daemon, error))
        for conn in daemon.waiters:
            self._reply(conn, {'ok': False, 'error': error})
        daemon.waiters = []

    # -- stopping daemons, reaping, shutdown

    def _stop(self, daemon, reason):
        if daemon.state == STOPPING:
            return
        if daemon.state == STARTING:
            # Nothing to finish yet, and its import may never return.
            self._fail_start(daemon, 'Storlet daemon for %s was stopped '
                             'before it was ready (%s)'
                             % (daemon.name, reason))
            signum = signal.SIGKILL
        else:
            # Unlink first: a new daemon for this key may come up at once,
            # and clients can no longer reach this one.
            unlink_if_ours(daemon.socket_path, daemon.socket_id)
            signum = signal.SIGTERM
        daemon.state = STOPPING
        log(WHO, 'stopping daemon %s: %s' % (daemon, reason))
        daemon.signal(signum)

    def _reap(self):
        """Collect every ended child: the one place children are reaped."""
        for pid, status in ended_children():
            daemon = self.daemons.pop(pid, None)
            if daemon is None:
                continue
            if not self.daemons:
                self.last_activity = time.monotonic()
            self._on_exit(daemon, status)
        # Whatever dead daemons left behind was re-parented here before we
        # learnt of their exit: kill it (the daemons themselves are kept).
        if not kill_descendants(keep=set(self.daemons),
                                timeout=STRAY_KILL_TIMEOUT):
            log(WHO, 'some processes could not be killed')

    def _on_exit(self, daemon, status):
        """A daemon ended: tell who waits for it, drop its socket."""
        log(WHO, 'daemon %s %s' % (daemon, describe_status(status)))
        if daemon.state == STARTING:
            line = self._ready_line(daemon) or ''
            error = (line[len('error '):] if line.startswith('error ')
                     else 'Storlet daemon for %s exited during start (%s)'
                     % (daemon.name, describe_status(status)))
            self._fail_start(daemon, error)
        elif daemon.state == READY:
            unlink_if_ours(daemon.socket_path, daemon.socket_id)

    def _handle_signals(self):
        signums = self.signals.drain()
        if signal.SIGCHLD in signums:
            self._reap()
        if signums & {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}:
            self._shutdown('signal')

    def _shutdown(self, reason):
        if self.shutdown_steps is not None:
            return
        log(WHO, 'shutting down (%s)' % reason)
        unlink_if_ours(self.socket_path, self.listener_id)
        self.listener.close()
        self.listener = None
        for conn in self.pending:
            conn.close()
        self.pending.clear()
        for daemon in list(self.daemons.values()):
            self._stop(daemon, 'factory shutting down')
        now = time.monotonic()
        self.shutdown_steps = [
            (now + self.stop_grace, signal.SIGQUIT),
            (now + self.stop_grace + QUIT_GRACE, signal.SIGKILL)]
