"""StorletDaemon: one warm process per storlet version, one fork per call.

Life of a daemon
----------------
1. The factory forks it (or, for another python version, execs
   ``python<v> -m storlets_agent daemon ...``). It prepends the storlet
   directory to ``sys.path``, imports ``module``, gets ``Class`` (main is
   ``"module.Class"``), binds ``<runtime-dir>/d-<key>.sock`` and then writes
   one line on its readiness pipe: ``ok``, or ``error <reason>``.
2. It serves ``ping`` and ``execute`` (see ``storlets.sbus``), one request
   per connection. Each ``execute`` forks a *supervisor*, which forks the
   *worker* that runs the storlet once (see worker.py). The connection
   stays open and gets the single reply when the supervisor is gone, i.e.
   when the worker and everything it started are gone. If the gateway
   closes the connection first, the supervisor gets SIGTERM: it kills the
   worker and everything below it.
3. It exits after ``idle_timeout`` seconds without a connection, or on
   SIGTERM once the calls in flight are done (SIGQUIT: cancel them, exit).

Why one thread and a poll loop: fork() copies only the calling thread, and
a lock another thread held at that moment stays locked forever in the
child. With a single thread, every worker starts from a consistent
interpreter. Nothing in the loop blocks for long: replies are tiny, and a
request frame must arrive whole within REQUEST_TIMEOUT.

The daemon is a child subreaper too: if a supervisor dies without cleaning
up (SIGKILLed by the OOM killer or by the storlet itself), its orphans come
here, and the daemon kills every child of its own that is not the
supervisor of a call in flight (a live supervisor is a subreaper, so a
process of *its* call can never end up here).
"""
import functools
import importlib
import math
import os
import select
import signal
import sys
import time

from storlets.sbus import channel
from storlets.sbus.protocol import ChannelClosed, ProtocolError

from storlets_agent import worker
from storlets_agent.process import (
    MAX_ERROR_TEXT, Limits, SignalQueue, close_fds_except, fork_blocked,
    kill_descendants, listen, log, one_line, reset_signals,
    set_child_subreaper, set_dumpable, unlink_if_ours)

#: Daemon exit codes.
DAEMON_OK = 0
DAEMON_START_FAILED = 4     # import or bind failed; reason on the ready pipe

#: Seconds a client has to send its whole request once connected.
REQUEST_TIMEOUT = 5.0
#: Seconds a client has to take a reply (replies are a few bytes).
REPLY_TIMEOUT = 5.0
#: Seconds a cancelled call's supervisor has to clean up and exit before
#: it is SIGKILLed (a storlet may have stopped it); what it leaves behind
#: then comes to the daemon, which kills it.
CANCEL_GRACE = 2.0
#: Seconds the daemon spends at most killing what a supervisor left.
STRAY_KILL_TIMEOUT = 2.0


# -- loading the storlet ---------------------------------------------------

class StartError(Exception):
    """A daemon cannot start; str() is the one-line reason."""


def load_storlet(main, path):
    """Import the storlet (main = ``module.Class``) from ``path``."""
    if not os.path.isdir(path):
        raise StartError('Storlet directory not found: %s' % path)
    module_name, _, class_name = main.rpartition('.')
    if not module_name or not class_name:
        raise StartError('Invalid storlet main %r: expected module.Class'
                         % main)
    sys.dont_write_bytecode = True  # storlet directories are read-only
    sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
        storlet_class = getattr(module, class_name)
        if not callable(storlet_class):
            raise TypeError('%s is not callable' % main)
    except BaseException as err:  # storlet code may raise anything
        raise StartError('Failed to load storlet %s: %s'
                         % (main, one_line(err)))
    return storlet_class


# -- one invocation ----------------------------------------------------------

def _string_map(value, what):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in value.items()):
        raise ValueError('%s must map strings to strings' % what)
    return value


def _window_bound(value):
    if value is not None and (type(value) is not int or value < 0):
        raise ValueError('input window bounds must be null or integers >= 0')
    return value


class Invocation:
    """One checked ``execute`` request: what a worker needs to run it."""

    def __init__(self, params, inputs, output_fd, metadata_fd, log_fd):
        self.params = params            # {str: str}
        self.inputs = inputs            # [(fd, metadata, start, end)]
        self.output_fd = output_fd
        self.metadata_fd = metadata_fd
        self.log_fd = log_fd

    @property
    def fds(self):
        return ([fd for fd, _, _, _ in self.inputs]
                + [self.output_fd, self.metadata_fd, self.log_fd])

    @classmethod
    def from_message(cls, message, fds):
        """Check an execute message; raise ValueError (one line) if bad."""
        roles = message.get('fds', [])
        if (roles[:4] != ['input', 'output', 'metadata', 'log']
                or any(role != 'input' for role in roles[4:])):
            raise ValueError('execute needs descriptors input, output, '
                             'metadata, log, then extra inputs; got %s'
                             % roles)
        input_fds = fds[:1] + fds[4:]
        described = message.get('inputs', [{}] * len(input_fds))
        if not isinstance(described, list) or len(described) != len(input_fds):
            raise ValueError('"inputs" must describe each of the %d input '
                             'descriptors' % len(input_fds))
        params = _string_map(message.get('params', {}), '"params"')
        inputs = []
        for fd, description in zip(input_fds, described):
            if not isinstance(description, dict):
                raise ValueError('each of "inputs" must be an object')
            metadata = _string_map(description.get('metadata') or {},
                                   'input "metadata"')
            start = _window_bound(description.get('start'))
            end = _window_bound(description.get('end'))
            if start is not None and end is not None and end < start:
                raise ValueError('input window ends (%d) before it starts '
                                 '(%d)' % (end, start))
            inputs.append((fd, metadata, start, end))
        return cls(params, inputs, fds[1], fds[2], fds[3])


def _result(status, error_text):
    """The reply for a worker that ended with ``status``."""
    code = os.waitstatus_to_exitcode(status)
    if code == worker.WORKER_OK:
        return {'ok': True}
    if code in (worker.WORKER_STORLET_FAILED, worker.WORKER_SETUP_FAILED):
        error = error_text or 'Storlet failed'
    elif code < 0:
        hint = ('out of memory?' if -code == signal.SIGKILL
                else signal.strsignal(-code))
        error = 'Storlet process killed by signal %d (%s)' % (-code, hint)
    else:
        error = 'Storlet process exited with code %d' % code
    return {'ok': False, 'error': error}


class Call:
    """One execute in flight: its supervisor, the connection owed a reply."""

    def __init__(self, pid, conn, error_fd, status_fd):
        self.pid = pid              # the supervisor's
        self.conn = conn            # None once the gateway has hung up
        self.error_fd = error_fd    # read end of the worker's error pipe
        self.status_fd = status_fd  # read end: the worker's wait status
        self.kill_at = None         # once cancelled: when to SIGKILL it
        self.killed = False

    def cancel(self):
        """Have the supervisor kill its worker and all below (SIGTERM).

        SIGCONT too, in case a storlet stopped it. The supervisor is not
        reaped yet, so the pid is still its.
        """
        if self.kill_at is None:
            self.kill_at = time.monotonic() + CANCEL_GRACE
        for signum in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


# -- the daemon ----------------------------------------------------------

class StorletDaemon:
    """Serves one storlet version on ``<runtime_dir>/d-<key>.sock``."""

    def __init__(self, runtime_dir, key, name, main, path, idle_timeout,
                 limits=None):
        self.key = key
        self.name = name
        self.main = main
        self.path = path
        self.idle_timeout = idle_timeout
        self.limits = limits or Limits()
        self.socket_path = os.path.join(runtime_dir, 'd-%s.sock' % key)
        self.who = 'daemon %s/%s' % (name, key)
        self.signals = None
        self.storlet_class = None
        self.listener = None
        self.listener_id = None
        self.pending = {}    # {conn: deadline}: request not read yet
        self.calls = {}      # {supervisor pid: Call}
        self.stopping = False
        self.last_activity = time.monotonic()

    def start(self):
        """Load the storlet and listen; raise StartError."""
        self.signals = SignalQueue()
        try:
            set_child_subreaper()
            # Storlets run as our uid: without this, one could ptrace (or
            # read the memory of) this daemon, hence of later calls.
            set_dumpable(False)
        except OSError as err:
            raise StartError('Cannot set up the daemon process: %s'
                             % one_line(err))
        self.storlet_class = load_storlet(self.main, self.path)
        try:
            self.listener, self.listener_id = listen(self.socket_path)
        except OSError as err:
            raise StartError('Cannot listen on %s: %s'
                             % (self.socket_path, one_line(err)))

    def serve(self):
        """The loop; returns the exit code once stopped."""
        while not (self.stopping and not self.calls and not self.pending):
            for handler in self._poll():
                try:
                    handler()
                except Exception as err:  # keep serving whatever happens
                    log(self.who, 'internal error: %s' % one_line(err))
            self._expire(time.monotonic())
        log(self.who, 'exiting')
        return DAEMON_OK

    def _poll(self):
        """Wait for events; return the handlers to run."""
        handlers = {self.signals.fd: self._handle_signals}
        if self.listener is not None:
            handlers[self.listener.fileno()] = self._accept
        for conn in self.pending:
            handlers[conn.fileno()] = functools.partial(self._read_request,
                                                        conn)
        for call in self.calls.values():
            if call.conn is not None:
                handlers[call.conn.fileno()] = functools.partial(
                    self._check_gateway, call)
        poller = select.poll()
        for fd in handlers:
            poller.register(fd, select.POLLIN)
        timeout = self._timeout()
        events = poller.poll(None if timeout is None
                             else math.ceil(timeout * 1000))
        # A handler may end what a later one refers to: each one checks.
        return [handlers[fd] for fd, _ in events]

    def _idle(self):
        return not (self.stopping or self.calls or self.pending)

    def _timeout(self):
        deadlines = list(self.pending.values())
        deadlines += [call.kill_at for call in self.calls.values()
                      if call.kill_at is not None and not call.killed]
        if self._idle():
            deadlines.append(self.last_activity + self.idle_timeout)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire(self, now):
        for conn, deadline in list(self.pending.items()):
            if deadline <= now:
                del self.pending[conn]
                conn.close()
                log(self.who, 'dropped a connection that sent no request')
        for call in self.calls.values():
            if not call.killed and call.kill_at is not None \
                    and call.kill_at <= now:
                log(self.who, 'call %d: its supervisor did not exit when '
                    'cancelled: killing it' % call.pid)
                call.killed = True
                os.kill(call.pid, signal.SIGKILL)
        if self._idle() and now >= self.last_activity + self.idle_timeout:
            self._stop_listening('idle for %g s' % self.idle_timeout)

    def _sockets(self):
        """Every socket object this process owns (a worker detaches them)."""
        if self.listener is not None:
            yield self.listener
        yield from self.pending
        yield from (call.conn for call in self.calls.values() if call.conn)

    # -- connections

    def _accept(self):
        """Accept one connection; return False when there is none."""
        if self.listener is None:
            return False
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as err:
            log(self.who, 'accept failed: %s' % one_line(err))
            return False
        conn.setblocking(False)
        self.last_activity = time.monotonic()
        self.pending[conn] = self.last_activity + REQUEST_TIMEOUT
        return True

    def _reply(self, conn, message):
        try:
            channel.send_message(
                conn, message, deadline=channel.deadline_after(REPLY_TIMEOUT))
        except (OSError, ProtocolError) as err:
            log(self.who, 'could not reply: %s' % one_line(err))

    def _read_request(self, conn):
        if self.pending.pop(conn, None) is None:
            return
        try:
            message, fds = channel.recv_message(
                conn, channel.deadline_after(REQUEST_TIMEOUT))
        except (OSError, ProtocolError) as err:
            if not isinstance(err, ChannelClosed):
                self._reply(conn, {'ok': False, 'error':
                                   'Bad request: %s' % one_line(err)})
            conn.close()
            return
        command = message.get('cmd')
        if command == 'execute':
            self._execute(conn, message, fds)
            return
        channel.close_all(fds)
        if command == 'ping':
            self._reply(conn, {'ok': True})
        else:
            self._reply(conn, {'ok': False,
                               'error': 'Unknown command: %r' % (command,)})
        conn.close()

    # -- calls

    def _execute(self, conn, message, fds):
        try:
            invocation = Invocation.from_message(message, fds)
        except ValueError as err:
            channel.close_all(fds)
            self._reply(conn, {'ok': False, 'error': str(err)})
            conn.close()
            return
        pipes = []
        try:
            for _ in range(2):
                pipes.extend(os.pipe2(os.O_CLOEXEC))
            pid = fork_blocked()
        except OSError as err:
            channel.close_all(fds + pipes)
            self._reply(conn, {'ok': False, 'error':
                               'Cannot start the storlet process: %s'
                               % one_line(err)})
            conn.close()
            return
        error_r, error_w, status_r, status_w = pipes
        if pid == 0:
            self._become_supervisor(invocation, conn, error_w, status_w)
        channel.close_all([error_w, status_w] + fds)  # the call's now
        os.set_blocking(error_r, False)
        os.set_blocking(status_r, False)
        self.calls[pid] = Call(pid, conn, error_r, status_r)

    def _become_supervisor(self, invocation, conn, error_fd, status_fd):
        """The child of _execute: run the call (worker.py); never return."""
        try:
            reset_signals()
            # Detach first, so that no socket object can later close a
            # descriptor number reused by the storlet.
            for sock in list(self._sockets()) + [conn]:
                sock.detach()
            close_fds_except([0, 1, 2, error_fd, status_fd]
                             + invocation.fds)
        except BaseException as err:
            log(self.who, 'cannot start a supervisor: %s' % one_line(err))
            os._exit(worker.WORKER_SETUP_FAILED)
        worker.supervise((self.storlet_class, self.main, self.path),
                         invocation, error_fd, status_fd, self.limits)

    def _check_gateway(self, call):
        """The gateway's connection is readable: has it hung up?"""
        if call.conn is None:
            return
        try:
            data = call.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        if data:
            return  # nothing is expected here; ignore it
        log(self.who, 'gateway closed the connection of call %d: '
            'cancelling it' % call.pid)
        call.cancel()
        call.conn.close()
        call.conn = None

    def _reap(self):
        """Collect every ended child: the one place children are reaped."""
        ended = []
        strays = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            call = self.calls.pop(pid, None)
            if call is None or status != 0:
                # An orphan we adopted, or a supervisor that did not
                # clean up (killed?): what it left is now ours.
                strays = True
            if call is not None:
                ended.append((call, status))
        # Before any reply: a call is over when all of its processes are.
        if strays and not kill_descendants(keep=set(self.calls),
                                           timeout=STRAY_KILL_TIMEOUT):
            log(self.who, 'some processes could not be killed')
        for call, status in ended:
            self._finish(call, status)

    def _finish(self, call, supervisor_status):
        error_text = _read_quietly(call.error_fd, 4 * MAX_ERROR_TEXT)
        status_text = _read_quietly(call.status_fd, 32)
        os.close(call.error_fd)
        os.close(call.status_fd)
        try:
            status = int(status_text)
        except ValueError:  # the supervisor died first, or never forked
            status = supervisor_status
        self.last_activity = time.monotonic()
        if call.conn is None:
            return
        reply = _result(status, error_text.decode('utf-8', 'replace').strip())
        self._reply(call.conn, reply)
        call.conn.close()
        call.conn = None
        if not reply['ok']:
            log(self.who, 'call %d failed: %s' % (call.pid, reply['error']))

    # -- stopping

    def _handle_signals(self):
        signums = self.signals.drain()
        if signal.SIGCHLD in signums:
            self._reap()
        if signal.SIGQUIT in signums:
            self._quit()
        elif signums & {signal.SIGTERM, signal.SIGINT}:
            self._stop_listening('SIGTERM')

    def _stop_listening(self, reason):
        """Stop taking connections; the loop ends when in-flight work is."""
        if self.stopping:
            return
        self.stopping = True
        log(self.who, 'stopping (%s)' % reason)
        # Connections already queued were made before the socket went
        # away (the factory unlinks it before signalling): serve them.
        while self._accept():
            pass
        unlink_if_ours(self.socket_path, self.listener_id)
        self.listener.close()
        self.listener = None

    def _quit(self):
        """Stop now: drop unread requests and kill the calls in flight."""
        self._stop_listening('SIGQUIT')
        for conn in self.pending:
            conn.close()
        self.pending.clear()
        for call in self.calls.values():
            call.cancel()
            if call.conn is not None:
                call.conn.close()
                call.conn = None


def _read_quietly(fd, size):
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return b''


def _report_ready(ready_fd, line):
    try:
        os.write(ready_fd, (line[:MAX_ERROR_TEXT] + '\n').encode('utf-8'))
    finally:
        os.close(ready_fd)


def run_daemon(runtime_dir, key, name, main, path, idle_timeout, ready_fd,
               limits=None):
    """Start one daemon, report on ``ready_fd``, serve; return the exit code.

    Called in a child of the factory (signals blocked and reset, other
    descriptors closed) or by ``python -m storlets_agent daemon``.
    """
    daemon = StorletDaemon(runtime_dir, key, name, main, path, idle_timeout,
                           limits)
    try:
        daemon.start()
    except StartError as err:
        log(daemon.who, str(err))
        _report_ready(ready_fd, 'error %s' % err)
        return DAEMON_START_FAILED
    _report_ready(ready_fd, 'ok')
    log(daemon.who, 'serving %s on %s' % (main, daemon.socket_path))
    return daemon.serve()
