"""JavaFront: the daemon of one Java storlet version: a Python front, one JVM.

Why a front, and how the JVM gets the call's descriptors
--------------------------------------------------------
The gateway talks to every daemon the same way (``storlets.sbus``: framed
JSON, descriptors as ``SCM_RIGHTS``). This process is that daemon for a
Java storlet: it owns ``d-<key>.sock``, checks each request with the same
code as the Python daemon (``Invocation``), and keeps the sandbox rules
(idle exit, SIGTERM/SIGQUIT, child subreaper, nothing left behind).

The storlet itself runs in one warm JVM, started once by this front
(``org.openstack.storlet.daemon.JavaDaemon``), loading the storlet jar and
its dependency jars once and calling ``invoke`` on a thread pool. The
front passes each call on to it over a socketpair (the JVM's descriptor
3), and the *descriptors themselves* travel again as ``SCM_RIGHTS``: the
JVM receives them with ``recvmsg`` through a small JNI shim
(``sandbox/java/jni/storlets_jni.c``), because the JDK's Unix-domain
channels carry bytes only. The JDK's own FileInputStream/FileChannel then
read the input pipe directly: no byte of data passes through this front,
and no JVM starts per call.

Rejected: relaying the data through the front (a copy of every byte);
reopening ``/proc/<pid>/fd/N`` in the JVM (it re-checks the file's
permissions, and the sandbox user may not open the object server's files
or the gateway's pipes by path); a JVM per call (hundreds of ms each).

The front <-> JVM messages are binary (no JSON library in the JVM); see
``Messages.java``. Calls carry a number; the JVM answers each with a
verdict that the front relays as the gateway's reply.

Containment, and what differs from Python storlets
--------------------------------------------------
* Calls of one Java storlet share a JVM (the Java contract: one instance,
  ``invoke`` called concurrently), so they are threads, not processes. A
  cancelled call (the gateway hung up: timeout, client gone) has its
  thread interrupted; one that has not ended CANCEL_GRACE later takes the
  JVM down with it: the front kills the JVM, fails the calls still in
  flight and exits (the next call starts a fresh daemon).
* Processes a Java storlet starts (executable dependencies) are children
  of the JVM; they are killed when the daemon exits, not at the end of
  each call.
* What a call prints on System.out/System.err goes to its own storlet log
  (the JVM routes prints by thread, see CallOutput.java); the JVM's own
  messages go to the sandbox's log (``docker logs``).
* The JVM gets an empty environment and is told where the storlet is by
  its class path (``StorletUtils.getClassFolder``).
* Scratch space: threads share the JVM's cwd, environment and
  ``java.io.tmpdir``, so each call's own directory (scratch.py) is only
  ``params['storlet_scratch_dir']``, made by this front before the call
  and removed (then ``/tmp`` swept) once the JVM says the call is done or
  the JVM is gone; measured every ``scratch.CHECK_INTERVAL``: past
  ``--max-scratch-size`` the gateway gets the error at once and the call
  is cancelled as on a hang-up.
"""
import math
import os
import select
import signal
import socket
import struct
import time

from storlets import layout
from storlets.sbus import channel

from storlets_agent import scratch
from storlets_agent.daemon import (
    CANCEL_GRACE, RETIRE_GRACE, STRAY_KILL_TIMEOUT, StartError, _report_ready)
from storlets_agent.exits import DAEMON_OK, DAEMON_START_FAILED, JVM_DIED
from storlets_agent.invocation import Invocation
from storlets_agent.process import (
    Limits, SignalQueue, close_fds_except, describe_status, fork_blocked,
    kill_descendants, listen, log, one_line, reset_signals,
    set_child_subreaper, set_dumpable, set_parent_death_signal,
    unblock_signals)
from storlets_agent.serving import (
    REQUEST_TIMEOUT, DaemonSocket, ended_children)

#: Where the image keeps the API jar, the daemon jar and the JNI shim.
JAVA_DIR = layout.JAVA_DIR
#: The java launcher of the image's JRE.
JAVA = '/usr/bin/java'
#: Calls one JVM runs at once; more wait for a free thread.
DEFAULT_JAVA_THREADS = 16
#: JVMs one sandbox keeps at most (see DaemonFactory._make_room).
DEFAULT_MAX_JAVA_DAEMONS = 4
#: The JVM's descriptor for the front's socket.
JVM_SOCKET_FD = 3
#: Seconds the JVM has to load the storlet and say it is ready.
JVM_START_TIMEOUT = 60.0

#: JVM options: a small footprint in a memory- and pids-limited sandbox
#: (serial GC, few compiler threads), headless AWT for image storlets.
JVM_OPTIONS = (
    '-XX:+UseSerialGC', '-XX:CICompilerCount=2', '-XX:MaxRAMPercentage=25',
    '-XX:-UsePerfData', '-XX:+DisableAttachMechanism', '-Xshare:auto',
    '-Djava.awt.headless=true', '-Dfile.encoding=UTF-8')
#: Seconds between two updates of the socket's mtime, which tells the
#: factory when this daemon was last used (see DaemonFactory).
TOUCH_INTERVAL = 1.0

_EXECUTE, _CANCEL, _READY, _DONE = b'X', b'C', b'R', b'D'


# -- the binary messages (see Messages.java) ---------------------------------

def _string(text):
    data = text.encode('utf-8')
    return struct.pack('>i', len(data)) + data


def _map(mapping):
    return struct.pack('>i', len(mapping)) + b''.join(
        _string(k) + _string(v) for k, v in mapping.items())


def encode_execute(call_id, invocation):
    """``(frame body, fds)`` of an execute for the JVM."""
    parts = [_EXECUTE, struct.pack('>i', call_id), _map(invocation.params),
             struct.pack('>i', len(invocation.inputs))]
    for _, metadata, start, end in invocation.inputs:
        parts.append(_map(metadata))
        parts.append(struct.pack('>qq', -1 if start is None else start,
                                 -1 if end is None else end))
    fds = [invocation.output_fd, invocation.metadata_fd, invocation.log_fd]
    fds += [fd for fd, _, _, _ in invocation.inputs]
    return b''.join(parts), fds


def encode_cancel(call_id):
    return _CANCEL + struct.pack('>i', call_id)


def decode_reply(body):
    """``('ready', None, error)`` or ``('done', id, error)``; error None
    means ok. Raises ValueError on anything else."""
    kind, rest = body[:1], body[1:]
    call_id = None
    if kind == _DONE:
        (call_id,), rest = struct.unpack('>i', rest[:4]), rest[4:]
    elif kind != _READY:
        raise ValueError('unknown message from the JVM: %r' % body[:1])
    ok = rest[:1] == b'\x01'
    (size,) = struct.unpack('>i', rest[1:5])
    error = rest[5:5 + size].decode('utf-8', 'replace')
    return ('done' if kind == _DONE else 'ready'), call_id, \
        (None if ok else error or 'Storlet failed')


def frame(body):
    return struct.pack('>I', len(body)) + body


class FrameReader:
    """Splits the JVM's byte stream into frame bodies."""

    def __init__(self):
        self.buffer = b''

    def feed(self, data):
        self.buffer += data
        bodies = []
        while len(self.buffer) >= 4:
            (size,) = struct.unpack('>I', self.buffer[:4])
            if len(self.buffer) < 4 + size:
                break
            bodies.append(self.buffer[4:4 + size])
            self.buffer = self.buffer[4 + size:]
        return bodies


# -- the front ---------------------------------------------------------------

class JavaCall:
    """One execute in the JVM: the connection owed its reply."""

    def __init__(self, conn, scratch_dir=None):
        self.conn = conn        # None once the gateway has hung up
        self.kill_at = None     # once cancelled: when to give up on it
        self.scratch_dir = scratch_dir  # its own (scratch.py), or None


def jvm_argv(java, java_dir, main, path, name, threads, max_log_size):
    """The JVM's command line: class path = API, daemon, storlet jar, then
    every other jar of the storlet directory (its dependencies)."""
    jars = sorted(f for f in os.listdir(path)
                  if f.endswith('.jar') and f != name)
    if name.endswith('.jar'):
        jars.insert(0, name)
    classpath = [os.path.join(java_dir, 'storlets-api.jar'),
                 os.path.join(java_dir, 'storlets-daemon.jar')]
    classpath += [os.path.join(path, jar) for jar in jars]
    return [java] + list(JVM_OPTIONS) + [
        '-Djava.library.path=' + java_dir,
        '-cp', os.pathsep.join(classpath),
        'org.openstack.storlet.daemon.JavaDaemon',
        str(JVM_SOCKET_FD), main, str(threads), str(max_log_size)]


class JavaFront(DaemonSocket):
    """Serves one Java storlet version on ``<runtime_dir>/d-<key>.sock``."""

    def __init__(self, runtime_dir, key, name, main, path, idle_timeout,
                 limits=None, java=JAVA, java_dir=JAVA_DIR,
                 threads=DEFAULT_JAVA_THREADS):
        self._init_socket(runtime_dir, key,
                          'java daemon %s/%s' % (name, key))
        self.name = name
        self.main = main
        self.path = path
        self.idle_timeout = idle_timeout
        self.limits = limits or Limits()
        self.java = java
        self.java_dir = java_dir
        self.threads = threads
        self.jvm = None             # its socket
        self.jvm_pid = None
        self.jvm_status = None      # once reaped
        self.reader = FrameReader()
        self.calls = {}             # {call id: JavaCall}
        self.next_id = 1
        self.exit_code = DAEMON_OK
        self.touched = 0.0
        self.scratch_check_at = None  # next measurement of the calls' dirs

    # -- start

    def start(self):
        """Start the JVM, wait until it has loaded the storlet, listen."""
        self.signals = SignalQueue()
        try:
            set_child_subreaper()
            set_dumpable(False)
        except OSError as err:
            raise StartError('Cannot set up the daemon process: %s'
                             % one_line(err))
        if not os.path.isdir(self.path):
            raise StartError('Storlet directory not found: %s' % self.path)
        if not os.access(self.java, os.X_OK):
            raise StartError('Java storlets are not enabled in this sandbox '
                             'image (no %s)' % self.java)
        argv = jvm_argv(self.java, self.java_dir, self.main, self.path,
                        self.name, self.threads, self.limits.max_log_size)
        self.jvm, theirs = socket.socketpair()
        try:
            self.jvm_pid = fork_blocked()
            if self.jvm_pid == 0:
                _exec_jvm(theirs, argv)   # does not return
        finally:
            theirs.close()
        error = self._wait_ready()
        if error is not None:
            self._end_jvm()
            raise StartError(error)
        self.jvm.setblocking(False)
        try:
            self.listener, self.listener_id = listen(self.socket_path)
        except OSError as err:
            self._end_jvm()
            raise StartError('Cannot listen on %s: %s'
                             % (self.socket_path, one_line(err)))

    def _wait_ready(self):
        """None once the JVM is ready, else why not."""
        deadline = time.monotonic() + JVM_START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.jvm], [], [],
                                        deadline - time.monotonic())
            if not ready:
                break
            data = self.jvm.recv(65536)
            if not data:
                _, status = os.waitpid(self.jvm_pid, 0)
                self.jvm_status = status
                return ('Java daemon for %s exited during start (%s)'
                        % (self.main, describe_status(status)))
            for body in self.reader.feed(data):
                kind, _, error = decode_reply(body)
                if kind == 'ready':
                    return error
        return 'Java daemon for %s did not start within %g s' % (
            self.main, JVM_START_TIMEOUT)

    # -- the loop

    def serve(self):
        self._loop()
        self._end_jvm()
        log(self.who, 'exiting')
        return self.exit_code

    def _add_handlers(self, handlers):
        if self.jvm is not None:
            handlers[self.jvm.fileno()] = self._read_jvm
        for call_id, call in self.calls.items():
            if call.conn is not None:
                handlers[call.conn.fileno()] = \
                    lambda i=call_id: self._check_gateway(i)

    def _timeout(self):
        deadlines = list(self.pending.values())
        deadlines += [c.kill_at for c in self.calls.values() if c.kill_at]
        if self.scratch_check_at is not None:
            deadlines.append(self.scratch_check_at)
        if self._idle():
            deadlines.append(self.last_activity + self.idle_timeout)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire(self, now):
        self._expire_pending(now)
        if self.scratch_check_at is not None and now >= self.scratch_check_at:
            self._check_scratch()
        if any(c.kill_at is not None and c.kill_at <= now
               for c in self.calls.values()):
            log(self.who, 'a cancelled call did not end within %g s: '
                'killing the JVM' % CANCEL_GRACE)
            self._jvm_gone('Java daemon killed: a cancelled call of the same '
                           'storlet did not stop')
        if self._idle() and now >= self.last_activity + self.idle_timeout:
            self._stop_listening('idle for %g s' % self.idle_timeout)

    # -- calls from the gateway

    def _execute(self, conn, message, fds):
        try:
            try:
                invocation = Invocation.from_message(message, fds)
            except ValueError as err:
                self._answer(conn, {'ok': False, 'error': str(err)})
                return
            if self.jvm is None:
                self._answer(conn, {'ok': False,
                                    'error': 'Java daemon is stopping'})
                return
            call_id = self.next_id
            self.next_id += 1
            scratch_dir = None
            if self.limits.scratch_root is not None:
                try:
                    scratch_dir = scratch.create(self.limits.scratch_root,
                                                 os.getpid(), call_id)
                except OSError as err:
                    self._answer(conn, {'ok': False, 'error':
                                        'Cannot make the scratch directory: '
                                        '%s' % one_line(err)})
                    return
                invocation.params = dict(invocation.params,
                                         storlet_scratch_dir=scratch_dir)
            body, call_fds = encode_execute(call_id, invocation)
            try:
                self._send_jvm(body, call_fds)
            except OSError as err:
                self._answer(conn, {'ok': False, 'error':
                                    'Cannot reach the Java daemon: %s'
                                    % one_line(err)})
                self._drop_scratch(scratch_dir)
                return
            self.calls[call_id] = JavaCall(conn, scratch_dir)
            if scratch_dir is not None and self.scratch_check_at is None \
                    and self.limits.max_scratch_size > 0:
                self.scratch_check_at = time.monotonic() + \
                    scratch.CHECK_INTERVAL
            self._touch()
        finally:
            channel.close_all(fds)  # the JVM has its own copies now

    def _touch(self):
        now = time.monotonic()
        if now - self.touched >= TOUCH_INTERVAL:
            self.touched = now
            try:
                os.utime(self.socket_path)
            except OSError:
                pass

    def _send_jvm(self, body, fds=()):
        data = frame(body)
        self.jvm.settimeout(REQUEST_TIMEOUT)
        try:
            sent = socket.send_fds(self.jvm, [data], list(fds))
            if sent < len(data):
                self.jvm.sendall(data[sent:])
        finally:
            self.jvm.setblocking(False)

    def _check_gateway(self, call_id):
        """A call's connection is readable: has the gateway hung up?"""
        call = self.calls.get(call_id)
        if call is None or call.conn is None \
                or not self._hung_up(call.conn):
            return
        self._read_jvm()  # its verdict may be waiting already
        if self.calls.get(call_id) is not call:
            return
        log(self.who, 'gateway closed the connection of call %d: '
            'cancelling it' % call_id)
        call.conn.close()
        call.conn = None
        self._cancel(call_id, call)

    def _cancel(self, call_id, call):
        """Interrupt the call's thread; the JVM is killed if the call has
        not ended ``CANCEL_GRACE`` seconds from now."""
        call.kill_at = time.monotonic() + CANCEL_GRACE
        try:
            self._send_jvm(encode_cancel(call_id))
        except OSError as err:
            log(self.who, 'cannot cancel call %d: %s'
                % (call_id, one_line(err)))

    # -- the JVM

    def _read_jvm(self):
        if self.jvm is None:
            return
        while True:
            try:
                data = self.jvm.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b''
            if not data:
                self._jvm_gone('Java daemon ended')
                return
            for body in self.reader.feed(data):
                try:
                    kind, call_id, error = decode_reply(body)
                except (ValueError, struct.error) as err:
                    log(self.who, 'bad message from the JVM: %s'
                        % one_line(err))
                    continue
                if kind == 'done':
                    self._finish(call_id, error)

    # -- scratch directories (scratch.py)

    def _check_scratch(self):
        """Fail the calls whose scratch directory holds too much: the
        gateway gets the error now, the call is cancelled (its thread
        interrupted, the JVM killed if it does not stop)."""
        limit = self.limits.max_scratch_size
        measured = [(i, c) for i, c in self.calls.items()
                    if c.scratch_dir is not None and c.kill_at is None]
        self.scratch_check_at = (time.monotonic() + scratch.CHECK_INTERVAL
                                 if measured else None)
        shared = scratch.shared_usage(self.limits.scratch_root,
                                      self.limits.watched_dirs, limit) \
            if measured else 0
        for call_id, call in measured:
            if shared + scratch.usage(call.scratch_dir, limit) <= limit:
                continue
            error = ('Storlet scratch directory exceeded %d bytes '
                     '(--max-scratch-size): call cancelled' % limit)
            log(self.who, 'call %d: %s' % (call_id, error))
            if call.conn is not None:
                self._answer(call.conn, {'ok': False, 'error': error})
                call.conn = None
            self._cancel(call_id, call)

    def _drop_scratch(self, path):
        """Remove a call's directory (its thread has ended), then sweep."""
        if path is None:
            return
        try:
            scratch.remove_tree(path)
        except OSError as err:
            log(self.who, 'cannot remove %s: %s' % (path, one_line(err)))
        scratch.sweep(self.limits.scratch_root, keep={
            c.scratch_dir for c in self.calls.values()})
        for watched in self.limits.watched_dirs:
            scratch.sweep(watched, sockets=True)

    def _finish(self, call_id, error):
        call = self.calls.pop(call_id, None)
        self.last_activity = time.monotonic()
        if call is not None:
            self._drop_scratch(call.scratch_dir)
        if call is None or call.conn is None:
            return
        if error is None:
            self._answer(call.conn, {'ok': True})
        else:
            self._answer(call.conn, {'ok': False, 'error': error})

    def _jvm_gone(self, reason):
        """The JVM ended or must: fail what is in flight, then exit."""
        self._end_jvm(kill=True)
        if self.jvm_status is not None:
            reason += ' (%s)' % describe_status(self.jvm_status)
        log(self.who, reason)
        for call in self.calls.values():
            if call.conn is not None:
                self._answer(call.conn, {'ok': False, 'error': reason})
        calls = list(self.calls.values())
        self.calls.clear()
        for call in calls:   # the JVM is gone: nothing of them runs
            self._drop_scratch(call.scratch_dir)
        self.exit_code = JVM_DIED
        self._stop_listening(reason)

    def _end_jvm(self, kill=False):
        """Close the JVM's socket (it exits at end of stream), reap it,
        then kill whatever is left below us."""
        if self.jvm is not None:
            self.jvm.close()
            self.jvm = None
        if self.jvm_pid is not None and self.jvm_status is None:
            if kill:
                _signal(self.jvm_pid, signal.SIGKILL)
            deadline = time.monotonic() + RETIRE_GRACE
            while self.jvm_status is None:
                pid, status = os.waitpid(self.jvm_pid, os.WNOHANG)
                if pid:
                    self.jvm_status = status
                elif time.monotonic() > deadline:
                    _signal(self.jvm_pid, signal.SIGKILL)
                    deadline = math.inf
                else:
                    time.sleep(0.005)
        if not kill_descendants(timeout=STRAY_KILL_TIMEOUT):
            log(self.who, 'some processes could not be killed')

    # -- stopping

    def _reap(self):
        for pid, status in ended_children():
            if pid == self.jvm_pid and self.jvm_status is None:
                self.jvm_status = status
                self._jvm_gone('Java daemon ended')

    def _quit(self):
        self._stop_listening('SIGQUIT')
        for conn in self.pending:
            conn.close()
        self.pending.clear()
        self._jvm_gone('Java daemon stopped (SIGQUIT)')


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exec_jvm(sock, argv):
    """In the forked child: the front's socket as fd 3, then exec java."""
    try:
        reset_signals()
        parent = os.getppid()
        if not set_parent_death_signal(signal.SIGKILL, parent):
            os._exit(1)
        os.dup2(sock.fileno(), JVM_SOCKET_FD, inheritable=True)
        close_fds_except([0, 1, 2, JVM_SOCKET_FD])
        unblock_signals()
        os.execve(argv[0], argv, {})
    except BaseException as err:
        log('java daemon', 'cannot start the JVM: %s' % one_line(err))
    finally:
        os._exit(127)


def run_java_front(runtime_dir, key, name, main, path, idle_timeout,
                   ready_fd, limits=None, java=JAVA, java_dir=JAVA_DIR,
                   threads=DEFAULT_JAVA_THREADS):
    """Start one Java daemon, report on ``ready_fd``, serve; exit code."""
    front = JavaFront(runtime_dir, key, name, main, path, idle_timeout,
                      limits, java, java_dir, threads)
    try:
        front.start()
    except StartError as err:
        log(front.who, str(err))
        _report_ready(ready_fd, 'error %s' % err)
        return DAEMON_START_FAILED
    _report_ready(ready_fd, 'ok')
    log(front.who, 'serving %s on %s' % (main, front.socket_path))
    return front.serve()
