"""StorletDaemon: one warm process per storlet version, one fork per call.

Life of a daemon
----------------
1. The factory forks it (or, for another python version, execs
   ``python<v> -m storlets_agent daemon ...``). It prepends the storlet
   directory to ``sys.path``, imports ``module``, gets ``Class`` (main is
   ``"module.Class"``), binds ``<runtime-dir>/d-<key>.sock`` and then writes
   one line on its readiness pipe: ``ok``, or ``error <reason>``.
2. It serves ``ping`` and ``execute`` (see ``storlets.sbus``), one request
   per connection. Each ``execute`` forks a *worker* that runs the storlet
   once and exits. The connection stays open and gets the single reply
   when the worker is gone; if the gateway closes it first, the worker's
   whole process group is killed with SIGKILL.
3. It exits after ``idle_timeout`` seconds without a connection, or on
   SIGTERM once the calls in flight are done (SIGQUIT: kill them, exit).

Why one thread and a poll loop: fork() copies only the calling thread, and
a lock another thread held at that moment stays locked forever in the
child. With a single thread, every worker starts from a consistent
interpreter. Nothing in the loop blocks for long: replies are tiny, and a
request frame must arrive whole within REQUEST_TIMEOUT.

A worker calls ``os.setsid()`` (the daemon kills its group, including
whatever the storlet spawned), restores default signal handling, closes
every descriptor except 0-2, the invocation's and its error pipe, runs the
storlet and leaves with ``os._exit(<named code>)``. On failure it writes the
one-line error on the error pipe; the daemon puts it in its reply.

The process plumbing the factory shares lives here too: ``log``,
``SignalQueue``, ``fork_blocked``, ``reset_signals``, ``close_fds_except``,
``listen``.
"""
import functools
import importlib
import math
import os
import select
import signal
import socket
import sys
import time

from storlets.sbus import channel
from storlets.sbus.protocol import ChannelClosed, ProtocolError

from storlets_agent import files

#: Worker exit codes: how one storlet call ended.
WORKER_OK = 0
WORKER_STORLET_FAILED = 3   # the storlet failed; the text is on the error pipe
WORKER_SETUP_FAILED = 4     # the call could not be set up (e.g. bad window)
#: Daemon exit codes.
DAEMON_OK = 0
DAEMON_START_FAILED = 4     # import or bind failed; reason on the ready pipe

#: Seconds a client has to send its whole request once connected.
REQUEST_TIMEOUT = 5.0
#: Seconds a client has to take a reply (replies are a few bytes).
REPLY_TIMEOUT = 5.0
#: Longest error text carried from a worker to the gateway.
MAX_ERROR_TEXT = 2000
#: Signals SignalQueue turns into bytes; blocked across fork().
HANDLED_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT,
                   signal.SIGQUIT)


# -- process plumbing, shared with the factory ------------------------------

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


def close_fds_except(keep):
    """Close every descriptor but ``keep``.

    After a fork without exec, close-on-exec flags do nothing: a child
    that must not hold its parent's sockets has to close them itself.
    """
    keep = set(keep)
    try:
        # Only what is open: the limit may be ~1M descriptors, and without
        # close_range(2) (kernels < 5.9) os.closerange closes one by one.
        candidates = [int(name) for name in os.listdir('/proc/self/fd')]
    except OSError:
        candidates = range(os.sysconf('SC_OPEN_MAX'))
    for fd in candidates:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:  # e.g. the listing's own, already closed
                pass


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


def describe_status(status):
    """A waitpid() status in words, for logs."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return 'exited with code %d' % code
    return 'was killed by signal %d (%s)' % (-code, signal.strsignal(-code))


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


def _report(error_fd, text):
    # Far below the pipe's capacity, so the write cannot block.
    os.write(error_fd, text[:MAX_ERROR_TEXT].encode('utf-8', 'replace'))


def run_storlet(storlet_class, main, path, invocation, error_fd):
    """Run the storlet once in this (worker) process; return the exit code."""
    try:
        in_files = [files.StorletInputFile(fd, metadata, start, end)
                    for fd, metadata, start, end in invocation.inputs]
        out_file = files.StorletOutputFile(invocation.output_fd,
                                           invocation.metadata_fd)
        logger = files.StorletLogger(main, invocation.log_fd)
    except Exception as err:
        channel.close_all(invocation.fds)
        _report(error_fd, 'Cannot set up the storlet call: %s'
                % one_line(err))
        return WORKER_SETUP_FAILED
    params = dict(invocation.params, storlet_execution_path=path)
    error = None
    try:
        storlet_class(logger)(in_files, [out_file], params)
    except BaseException as err:
        if not (isinstance(err, SystemExit) and err.code in (None, 0)):
            error = one_line(err)
            _log_quietly(logger.exception, 'Storlet failed: %s' % error)
    if error is None and not out_file.metadata_sent:
        error = 'Storlet returned without setting the output metadata'
        _log_quietly(logger.error, error)
    for stream in in_files + [out_file, logger]:
        try:
            stream.close()
        except OSError:
            pass
    if error is None:
        return WORKER_OK
    _report(error_fd, error)
    return WORKER_STORLET_FAILED


def _log_quietly(method, text):
    try:
        method(text)
    except ValueError:  # the storlet closed its logger
        pass


def _kill_worker(pid):
    """SIGKILL a worker that is not reaped yet, and its process group.

    The worker may not have called setsid() yet, hence both calls. An
    unreaped pid cannot be reused, nor can the group id equal to it.
    """
    for kill in (os.kill, os.killpg):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _result(status, error_text):
    """The reply for a worker that ended with ``status``."""
    code = os.waitstatus_to_exitcode(status)
    if code == WORKER_OK:
        return {'ok': True}
    if code in (WORKER_STORLET_FAILED, WORKER_SETUP_FAILED):
        error = error_text or 'Storlet failed'
    elif code < 0:
        hint = ('out of memory?' if -code == signal.SIGKILL
                else signal.strsignal(-code))
        error = 'Storlet process killed by signal %d (%s)' % (-code, hint)
    else:
        error = 'Storlet process exited with code %d' % code
    return {'ok': False, 'error': error}


class Call:
    """One execute in flight: its worker, and the connection owed a reply."""

    def __init__(self, pid, conn, error_fd):
        self.pid = pid
        self.conn = conn          # None once the gateway has hung up
        self.error_fd = error_fd  # read end of the worker's error pipe


# -- the daemon ----------------------------------------------------------

class StorletDaemon:
    """Serves one storlet version on ``<runtime_dir>/d-<key>.sock``."""

    def __init__(self, runtime_dir, key, name, main, path, idle_timeout):
        self.key = key
        self.name = name
        self.main = main
        self.path = path
        self.idle_timeout = idle_timeout
        self.socket_path = os.path.join(runtime_dir, 'd-%s.sock' % key)
        self.who = 'daemon %s/%s' % (name, key)
        self.signals = None
        self.storlet_class = None
        self.listener = None
        self.listener_id = None
        self.pending = {}    # {conn: deadline}: request not read yet
        self.calls = {}      # {worker pid: Call}
        self.stopping = False
        self.last_activity = time.monotonic()

    def start(self):
        """Load the storlet and listen; raise StartError."""
        self.signals = SignalQueue()
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
        try:
            error_r, error_w = os.pipe2(os.O_CLOEXEC)
            try:
                pid = fork_blocked()
            except OSError:
                channel.close_all([error_r, error_w])
                raise
        except OSError as err:
            channel.close_all(fds)
            self._reply(conn, {'ok': False, 'error':
                               'Cannot start the storlet process: %s'
                               % one_line(err)})
            conn.close()
            return
        if pid == 0:
            self._run_worker(invocation, conn, error_w)  # does not return
        os.close(error_w)
        channel.close_all(fds)  # the worker holds them now
        os.set_blocking(error_r, False)
        self.calls[pid] = Call(pid, conn, error_r)

    def _run_worker(self, invocation, conn, error_fd):
        """The worker's whole life, in the child of fork_blocked()."""
        code = WORKER_SETUP_FAILED
        try:
            os.setsid()
            reset_signals()
            unblock_signals()
            # Detach first, so that no socket object can later close a
            # descriptor number reused by the storlet.
            for sock in list(self._sockets()) + [conn]:
                sock.detach()
            close_fds_except([0, 1, 2, error_fd] + invocation.fds)
            code = run_storlet(self.storlet_class, self.main, self.path,
                               invocation, error_fd)
        except BaseException as err:
            try:
                _report(error_fd, 'Storlet process failed: %s'
                        % one_line(err))
            except BaseException:
                pass
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()  # what the storlet printed
                except BaseException:
                    pass
            os._exit(code)

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
        log(self.who, 'gateway closed the connection of call %d: killing it'
            % call.pid)
        _kill_worker(call.pid)
        call.conn.close()
        call.conn = None

    def _reap(self):
        """Collect every ended child: the one place children are reaped."""
        while True:
            try:
                # WNOWAIT leaves the child a zombie, so its pid (and the
                # group id equal to it) cannot be reused while we kill
                # what the storlet left behind in its group.
                info = os.waitid(os.P_ALL, 0,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            call = self.calls.pop(info.si_pid, None)
            if call is not None:
                try:
                    os.killpg(info.si_pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            _, status = os.waitpid(info.si_pid, 0)
            if call is not None:
                self._finish(call, status)

    def _finish(self, call, status):
        try:
            error_text = os.read(call.error_fd, 4 * MAX_ERROR_TEXT)
        except BlockingIOError:
            error_text = b''
        os.close(call.error_fd)
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
            _kill_worker(call.pid)
            if call.conn is not None:
                call.conn.close()
                call.conn = None


def _report_ready(ready_fd, line):
    try:
        os.write(ready_fd, (line[:MAX_ERROR_TEXT] + '\n').encode('utf-8'))
    finally:
        os.close(ready_fd)


def run_daemon(runtime_dir, key, name, main, path, idle_timeout, ready_fd):
    """Start one daemon, report on ``ready_fd``, serve; return the exit code.

    Called in a child of the factory (signals blocked and reset, other
    descriptors closed) or by ``python -m storlets_agent daemon``.
    """
    daemon = StorletDaemon(runtime_dir, key, name, main, path, idle_timeout)
    try:
        daemon.start()
    except StartError as err:
        log(daemon.who, str(err))
        _report_ready(ready_fd, 'error %s' % err)
        return DAEMON_START_FAILED
    _report_ready(ready_fd, 'ok')
    log(daemon.who, 'serving %s on %s' % (main, daemon.socket_path))
    return daemon.serve()
