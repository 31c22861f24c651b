"""The supervisor: one process that serves a daemon's calls, one at a time.

The daemon forks a *supervisor* (trusted agent code), which forks a
*worker* (worker.py: the storlet runs there) before there is a call for
it::

    daemon ─ supervisor ─ worker ─ whatever the storlet starts ...

A supervisor serves one call at a time, and usually many in turn, each in
a new worker (see spares.py for the daemon's side and the messages on the
control socket). ``run_pair``, its whole life:

    * dies with the daemon (``PR_SET_PDEATHSIG``), is not dumpable (as the
      daemon) and is a child subreaper: anything the storlet starts stays
      below it, even after setsid(), setpgid() or a double fork;
    * keeps one worker forked and set up, waiting for its call;
    * on ``call`` (the gateway's log file and connection; the daemon hands
      the rest to the worker) takes the daemon's name back and relays the
      storlet's log: the worker's logger, stdout and stderr all write into
      a pipe that the supervisor copies to the log file, up to
      ``max_log_size`` bytes per call, then one line ``<main> WARN: ...
      log truncated`` and nothing more (reading on, so the storlet never
      blocks);
    * SIGKILLs the worker if the gateway hangs up, on ``cancel``, or on
      SIGTERM (ignored while idle), or if its call's scratch directory
      (scratch.py: made with the worker, so a spare has one ready) holds
      more than ``max_scratch_size`` (measured every
      ``scratch.CHECK_INTERVAL``; the call then fails with that error, also
      written to its log);
    * once the worker has ended: if it left no process (the supervisor has
      no other child: one read of /proc/self/task/<pid>/children, since
      every orphan of the call is re-parented here), it reports at once;
      otherwise it first SIGKILLs everything below it
      (``process.kill_descendants``) and reaps it, then removes the
      call's scratch directory and sweeps the scratch root (whatever a
      call left there outside a live scratch directory). So nothing of the
      call is left when it sends the ``verdict`` (the worker's wait status and
      error text) to the daemon, then the reply to the gateway, named
      ``SPARE_NAME`` again; it forks the next worker SPARE_FORK_DELAY
      later (or at once if a call comes first), so that the fork does not
      compete with the gateway for the CPU right then. If the pair is not
      to be kept, or something could not be killed, it exits instead, and
      the daemon replies once it is gone.
"""
import math
import os
import select
import signal
import socket
import time

from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

from storlets_agent import files, scratch
from storlets_agent.process import (
    MAX_ERROR_TEXT, SPARE_NAME, SignalQueue, fork_blocked, kill_descendants,
    log, one_line, set_child_subreaper, set_name, set_parent_death_signal)
from storlets_agent.exits import (
    SPARE_UNUSED, SUPERVISOR_LEFTOVERS, SUPERVISOR_OK, WORKER_OK,
    WORKER_SETUP_FAILED, WORKER_STORLET_FAILED)
from storlets_agent.worker import readable, run_worker


#: Seconds a peer has to send the rest of a control message.
MESSAGE_TIMEOUT = 5.0
#: Seconds an idle supervisor whose worker died waits for the hand-off of
#: a call that worker may have taken (the daemon tells the worker first).
HAND_OFF_WAIT = 1.0
#: Seconds between a reply and the fork of the next worker (unless a call
#: comes first): the gateway and the daemon get the CPU first.
SPARE_FORK_DELAY = 0.0005

_CHUNK = 64 * 1024
_STOP = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


def receive(sock):
    """One SBus frame from a non-blocking socket: ``(message, fds)``;
    None if nothing is there yet. Raises ChannelClosed at end of file."""
    if not readable(sock):
        return None
    return channel.recv_message(sock, channel.deadline_after(MESSAGE_TIMEOUT))


# -- the supervisor -----------------------------------------------------------

def run_pair(storlet, limits, name, daemon, control_fd, call_fd):
    """The supervisor's whole life, in a child of the daemon; never returns.

    ``storlet``: (class, main, path); ``name``: the process name to take
    with a call; ``daemon``: the parent's pid; ``control_fd``: the socket
    to the daemon; ``call_fd``: the first worker's call socket. The caller
    has reset the signals (still blocked) and closed all other descriptors
    but 0-2.
    """
    code = SUPERVISOR_LEFTOVERS
    try:
        code = _Supervisor(storlet, limits, name, control_fd).run(daemon,
                                                                  call_fd)
    except BaseException as err:
        log('supervisor', 'failed: %s' % one_line(err))
    finally:
        os._exit(code)


class _Worker:
    """A worker as its supervisor sees it."""

    def __init__(self, pid, log_r, error_r, scratch_dir=None, reuse=None):
        self.pid = pid
        self.log_r = log_r        # read end of its log pipe
        self.error_r = error_r    # read end of its error pipe
        self.scratch_dir = scratch_dir  # its call's (scratch.py), or None
        self.status = None        # wait status once ended (reaped or not)
        # socket on which it says "done" after a call that went well and
        # gets its next call (None: one call per worker)
        self.reuse = reuse
        self.done = False         # has said "done" for the call in hand

    def end_call(self):
        """Remove the call's scratch directory (nothing of it runs)."""
        if self.scratch_dir is not None:
            _remove_scratch(self.scratch_dir)
            self.scratch_dir = None

    def close(self):
        channel.close_all([self.log_r, self.error_r])
        if self.reuse is not None:
            self.reuse.close()
            self.reuse = None
        self.end_call()


class _Call:
    """A call as its supervisor holds it: the gateway's log file and its
    connection to the daemon (a copy: the daemon keeps one too)."""

    def __init__(self, log_fd, conn_fd):
        self.log_fd = log_fd
        self.conn = socket.socket(fileno=conn_fd)
        self.cancelled = False    # by a hang-up or the daemon: no reply

    def hung_up(self):
        """The connection is readable: has the gateway closed it?"""
        try:
            return not self.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def close(self):
        os.close(self.log_fd)
        self.conn.close()


class _Supervisor:

    def __init__(self, storlet, limits, name, control_fd):
        self.storlet = storlet
        self.limits = limits
        self.name = name
        self.control = socket.socket(fileno=control_fd)
        self.control.setblocking(False)
        self.signals = None
        self.me = None
        self.spare = None         # the worker waiting for the next call
        self.fork_at = None       # when to fork it, if there is none
        self.next_call = None     # socketpair for the worker after it
        self.daemon_gone = False
        self.scratch_count = 0    # scratch directories made so far
        self.logged = 0           # log bytes of this call written so far
        self.log_ends_line = True
        self.truncated = False

    def run(self, daemon, call_fd):
        if not set_parent_death_signal(signal.SIGKILL, daemon):
            return SPARE_UNUSED  # the daemon is already gone
        set_child_subreaper()
        self.signals = SignalQueue()
        self.me = os.getpid()
        if not self._fork_spare(call_fd):
            return WORKER_SETUP_FAILED
        while True:
            hand_off = self._wait_for_call()
            if not isinstance(hand_off, tuple):
                return self._retire(hand_off)
            call, keep = hand_off
            worker, self.spare = self.spare, None
            set_name(self.name)
            verdict, clean, reusable = self._supervise(worker, call)
            code = SUPERVISOR_OK if clean else SUPERVISOR_LEFTOVERS
            if not (keep and clean and not self.daemon_gone):
                if reusable:
                    _end(worker)
                # We exit: the daemon replies once we are gone.
                call.conn.close()
                self._send(dict(verdict, recycle=False))
                return self._retire(code)
            if reusable and not self._give_next_call(worker):
                _end(worker)
            if not self._recycle(verdict, call):
                return self._retire(code)

    def _recycle(self, verdict, call):
        """Become a spare again and reply; False if the daemon is gone.

        The verdict goes to the daemon first, with the next worker's call
        socket: once the gateway has the reply, its next request may come,
        and the daemon must find this pair idle by then. The reply then
        goes straight to the gateway (no wake-up of the daemon on the way).
        The next worker is forked SPARE_FORK_DELAY later, or when the next
        call comes if that is sooner (see _wait_for_call): the fork costs
        a CPU for a millisecond, which the gateway needs right now.
        """
        daemon_end, worker_end = self.next_call
        set_name(SPARE_NAME)  # before anyone has the reply
        sent = self._send(dict(verdict, recycle=True, fds=['call']),
                          [daemon_end.fileno()])
        daemon_end.close()
        with call.conn as conn:
            if not sent:
                return False
            if worker_end is None:  # a worker serves again: it has it
                try:
                    self.next_call = socket.socketpair()
                except OSError:
                    return False
            self.fork_at = time.monotonic() + SPARE_FORK_DELAY
            if call.cancelled:
                return True  # a cancelled call gets no reply
            try:
                channel.send_message(conn, reply_for(
                    verdict['status'], verdict['error']),
                    deadline=channel.deadline_after(MESSAGE_TIMEOUT))
            except (OSError, ProtocolError):
                pass  # the gateway has gone: nobody to tell
        return True

    # -- workers

    def _fork_spare(self, call_fd):
        """Fork the next worker, waiting on ``call_fd``; False if we cannot.

        On failure the daemon gets an ``error`` message: its reply to a
        call it may have handed us already. Then the socketpair of the
        worker after it is made, now rather than when time counts.
        """
        try:
            self.spare = self._fork_worker(call_fd)
            self.fork_at = None
            self.next_call = socket.socketpair()
            return True
        except OSError as err:
            self._send({'cmd': 'error', 'error':
                        'Cannot start the storlet process: %s'
                        % one_line(err)})
            return False

    def _fork_worker(self, call_fd):
        """Fork a worker that waits for its call on ``call_fd`` (ours)."""
        opened = [call_fd]
        scratch_dir = None
        reuse = reuse_peer = None
        try:
            log_r, log_w = os.pipe2(os.O_CLOEXEC)
            opened += [log_r, log_w]
            error_r, error_w = os.pipe2(os.O_CLOEXEC)
            opened += [error_r, error_w]
            if self.limits.calls_per_worker > 1:
                reuse, reuse_peer = socket.socketpair()
                opened += [reuse.detach(), reuse_peer.detach()]
                reuse, reuse_peer = opened[-2:]
            if self.limits.scratch_root is not None:
                self.scratch_count += 1
                scratch_dir = scratch.create(self.limits.scratch_root,
                                             self.me, self.scratch_count)
            pid = fork_blocked()
        except BaseException:
            channel.close_all(opened)
            if scratch_dir is not None:
                _remove_scratch(scratch_dir)
            raise
        if pid == 0:
            run_worker(self.storlet, self.limits, call_fd, error_w, log_w,
                       self.me, self.name, scratch_dir,
                       reuse_peer)  # does not return
        channel.close_all([call_fd, log_w, error_w])
        os.set_blocking(log_r, False)
        os.set_blocking(error_r, False)
        if reuse is not None:
            os.close(reuse_peer)
            reuse = socket.socket(fileno=reuse)
            reuse.setblocking(False)
        return _Worker(pid, log_r, error_r, scratch_dir, reuse)

    def _give_next_call(self, worker):
        """Make ``worker``, which has served its call and may serve again,
        the spare: it gets the next call's socket and scratch directory.
        False if it cannot be told (it is then not ours to use)."""
        daemon_end, worker_end = self.next_call
        scratch_dir = None
        try:
            if self.limits.scratch_root is not None:
                self.scratch_count += 1
                scratch_dir = scratch.create(self.limits.scratch_root,
                                             self.me, self.scratch_count)
            channel.send_message(
                worker.reuse, {'cmd': 'next', 'scratch': scratch_dir,
                               'fds': ['call']},
                [worker_end.fileno()],
                channel.deadline_after(MESSAGE_TIMEOUT))
        except (OSError, ProtocolError) as err:
            log('supervisor', 'worker %d cannot serve again: %s'
                % (worker.pid, one_line(err)))
            if scratch_dir is not None:
                _remove_scratch(scratch_dir)
            return False
        worker_end.close()
        self.next_call = (daemon_end, None)
        worker.scratch_dir = scratch_dir
        worker.done = False
        self.spare = worker
        return True

    def _check_spare(self):
        """Note the spare worker's status if it has died (a storlet killed
        it?); not reaped: a call may have reached it just before."""
        if self.spare is None or self.spare.status is not None:
            return
        info = os.waitid(os.P_PID, self.spare.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None and info.si_pid != 0:
            self.spare.status = _wait_status(info)

    def _drop_spare(self):
        if self.spare is not None:
            try:
                os.kill(self.spare.pid, signal.SIGKILL)
                os.waitpid(self.spare.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.spare.close()
            self.spare = None

    def _retire(self, code):
        """Kill the spare worker; return our exit code."""
        self._drop_spare()
        return code

    # -- the control socket

    def _send(self, message, fds=()):
        """Send to the daemon; False if it is gone."""
        try:
            channel.send_message(self.control, message, fds,
                                 channel.deadline_after(MESSAGE_TIMEOUT))
            return True
        except (OSError, ProtocolError):
            self.daemon_gone = True
            return False

    def _receive(self):
        """The next control message; None when there is none; 'gone'."""
        try:
            got = receive(self.control)
        except (OSError, ProtocolError):
            self.daemon_gone = True
            return 'gone'
        if got is None:
            return None
        message, fds = got
        if message.get('cmd') == 'call' and len(fds) == 2:
            return message, _Call(*fds)
        channel.close_all(fds)
        return message, None

    # -- one call

    def _wait_for_call(self):
        """Idle: ``(_Call, keep)`` once a call comes, else our exit code.

        Also forks the next worker when it is time (see _recycle), or at
        once when a call comes first: its part waits in its socket.
        """
        poller = select.poll()
        poller.register(self.signals.fd, select.POLLIN)
        poller.register(self.control, select.POLLIN)
        while True:
            timeout = None
            if self.spare is None:
                timeout = max(0, math.ceil(
                    (self.fork_at - time.monotonic()) * 1000))
            events = dict(poller.poll(timeout))
            if self.signals.fd in events:
                # SIGTERM is for calls: an idle supervisor ignores it.
                self.signals.drain()
                self._check_spare()
            hand_off = self._read_hand_off()
            if hand_off == 'gone':
                return SPARE_UNUSED
            if self.spare is None and (
                    hand_off is not None
                    or time.monotonic() >= self.fork_at):
                _, worker_end = self.next_call
                if not self._fork_spare(worker_end.detach()):
                    if hand_off is not None:
                        hand_off[0].close()
                    return WORKER_SETUP_FAILED
            if hand_off is None and self.spare is not None \
                    and self.spare.status is not None:
                # Our worker died (a storlet killed it?). If it had taken
                # a call, the daemon is telling us right now.
                waiter = select.poll()
                waiter.register(self.control, select.POLLIN)
                if waiter.poll(HAND_OFF_WAIT * 1000):
                    hand_off = self._read_hand_off()
                if not isinstance(hand_off, tuple):
                    return SPARE_UNUSED
            if hand_off is not None:
                return hand_off

    def _read_hand_off(self):
        """``(_Call, keep)``, 'gone' (the daemon), or None (no call yet)."""
        while True:
            got = self._receive()
            if got is None or got == 'gone':
                return got
            message, call = got
            if call is not None:
                return call, bool(message.get('keep'))
            # Anything else (a late cancel) is for a call that is over.

    def _supervise(self, worker, call):
        """Relay the log until the worker ends, then clean up.

        The worker is killed if the gateway hangs up (or the daemon says
        so: it sees the hang-up too, and acts if we do not answer).
        Returns ``(verdict message, clean)``.
        """
        log_fd = call.log_fd
        self.logged = 0
        self.log_ends_line = True
        self.truncated = False
        overflow = None           # the error, once the scratch overflowed
        measure = (worker.scratch_dir is not None
                   and self.limits.max_scratch_size > 0)
        check_at = time.monotonic() + scratch.CHECK_INTERVAL
        poller = select.poll()
        poller.register(self.signals.fd, select.POLLIN)
        poller.register(worker.log_r, select.POLLIN)
        poller.register(self.control, select.POLLIN)
        poller.register(call.conn, select.POLLIN)
        if worker.reuse is not None:
            poller.register(worker.reuse, select.POLLIN)
        while worker.status is None and not worker.done:
            timeout = None
            if measure and overflow is None:
                timeout = max(0, math.ceil(
                    (check_at - time.monotonic()) * 1000))
            events = poller.poll(timeout)
            if measure and overflow is None \
                    and time.monotonic() >= check_at:
                check_at = time.monotonic() + scratch.CHECK_INTERVAL
                overflow = self._check_scratch(worker)
            for fd, _ in events:
                if fd == worker.log_r:
                    if self._relay(worker, log_fd) is False:
                        poller.unregister(worker.log_r)
                elif fd == self.signals.fd:
                    if self.signals.drain() & _STOP:
                        _kill(worker)
                    self._wait_children(worker)
                elif fd == call.conn.fileno():
                    if call.hung_up():
                        poller.unregister(call.conn)
                        call.cancelled = True
                        _kill(worker)
                elif worker.reuse is not None \
                        and fd == worker.reuse.fileno():
                    if self._read_done(worker) is False:
                        poller.unregister(worker.reuse)
                elif self._cancelled():
                    poller.unregister(self.control)
                    call.cancelled = True
                    _kill(worker)
        if measure and overflow is None:
            # once more: a call may have ended before the last check
            overflow = self._check_scratch(worker)
        reusable = (worker.done and overflow is None and not call.cancelled
                    and _may_serve_again(worker.pid))
        if worker.done and not reusable:
            _kill(worker)  # it has served its call, and goes now
            # A zombie (not reaped): its orphans have come to us by then.
            worker.status = _wait_status(os.waitid(
                os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT))
        # The worker is a zombie until we reap it (or alive, if it serves
        # again): its pid, hence the id of the process group it created,
        # cannot be reused meanwhile.
        clean = True
        if _children() != {worker.pid}:
            clean = kill_descendants(keep={worker.pid}, group=worker.pid)
            if not clean:
                log('supervisor', 'processes of call %d could not be killed'
                    % worker.pid)
        if not reusable:
            os.waitpid(worker.pid, 0)
        # The rest of the log: up to EOF, or (a worker that stays) all it
        # wrote before it said "done".
        while self._relay(worker, log_fd) is True:
            pass
        if overflow is not None:
            _write_quietly(log_fd, b'%s ERROR: %s\n' % (
                self.storlet[1].encode('utf-8', 'replace'),
                overflow.encode('utf-8')))
        os.close(log_fd)
        try:
            error = os.read(worker.error_r, 4 * MAX_ERROR_TEXT)
        except BlockingIOError:
            error = b''
        if reusable:
            worker.end_call()
        else:
            worker.close()  # and its scratch directory: nothing of it runs
        if self.limits.scratch_root is not None:
            scratch.sweep(self.limits.scratch_root)
            for path in self.limits.watched_dirs:
                scratch.sweep(path, sockets=True)
        # A worker that said "done" has served its call, whatever ended it
        # afterwards.
        status = WORKER_OK << 8 if worker.done else worker.status
        error = error.decode('utf-8', 'replace').strip()
        if overflow is not None:
            # killed by us, not by the OOM killer: the reply says why
            status, error = WORKER_STORLET_FAILED << 8, overflow
        verdict = {'cmd': 'verdict', 'status': status, 'error': error}
        return verdict, clean, reusable

    @staticmethod
    def _read_done(worker):
        """The worker's reuse socket is readable: has it said "done"?

        False once nothing more can come (it is exiting, or sent what it
        should not: the storlet runs in that process).
        """
        try:
            got = receive(worker.reuse)
        except (OSError, ProtocolError):
            return False
        if got is None:
            return None
        message, fds = got
        channel.close_all(fds)
        if message.get('cmd') != 'done':
            return False
        worker.done = True
        return True

    def _check_scratch(self, worker):
        """Kill the worker if its scratch directory holds too much; the
        error text then, else None."""
        limit = self.limits.max_scratch_size
        used = scratch.usage(worker.scratch_dir, limit)
        if used <= limit:
            used += scratch.shared_usage(self.limits.scratch_root,
                                         self.limits.watched_dirs,
                                         limit - used)
        if used <= limit:
            return None
        _kill(worker)   # nothing if it has ended
        return ('Storlet scratch directory exceeded %d bytes '
                '(--max-scratch-size): call killed' % limit)

    def _cancelled(self):
        """Read the control socket during a call: cancelled or gone?"""
        while True:
            got = self._receive()
            if got is None:
                return False
            if got == 'gone':
                return True
            message, call = got
            if call is not None:
                call.close()  # cannot happen: one call at a time
            if message.get('cmd') == 'cancel':
                return True

    def _wait_children(self, worker):
        """Note the worker's end; reap the orphans that ended."""
        while True:
            # WNOWAIT for the worker (see _supervise); the others that
            # ended are reaped right away.
            try:
                info = os.waitid(os.P_ALL, 0,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            if info.si_pid == worker.pid:
                worker.status = _wait_status(info)
                return
            os.waitpid(info.si_pid, 0)

    def _relay(self, worker, log_fd):
        """Copy one chunk of the log pipe.

        True if there was one, False at EOF, None if the pipe is empty.
        """
        try:
            data = os.read(worker.log_r, _CHUNK)
        except BlockingIOError:
            return None
        if not data:
            return False
        room = self.limits.max_log_size - self.logged
        if room > 0:
            kept = data[:room]
            self.logged += len(kept)
            self.log_ends_line = kept.endswith(b'\n')
            _write_quietly(log_fd, kept)
            data = data[room:]
        if data and not self.truncated:
            self.truncated = True
            _write_quietly(log_fd, b'%s%s WARN: ... log truncated\n' % (
                b'' if self.log_ends_line else b'\n',
                self.storlet[1].encode('utf-8', 'replace')))
        return True


def reply_for(status, error_text):
    """The reply to the gateway for a worker that ended with ``status``."""
    code = os.waitstatus_to_exitcode(status)
    if code == WORKER_OK:
        return {'ok': True}
    if code in (WORKER_STORLET_FAILED, WORKER_SETUP_FAILED):
        error = error_text or 'Storlet failed'
    elif code == SPARE_UNUSED:
        error = 'Storlet process ended before its call started'
    elif code < 0:
        hint = ('out of memory?' if -code == signal.SIGKILL
                else signal.strsignal(-code))
        error = 'Storlet process killed by signal %d (%s)' % (-code, hint)
    else:
        error = 'Storlet process exited with code %d' % code
    return {'ok': False, 'error': error}


def _may_serve_again(pid):
    """Is the worker ``pid``, which said "done", alone again: no thread
    but its main one, no child? (From /proc: nothing it could fake.)"""
    if _children() != {pid}:
        return False  # an orphan of its call came to us
    try:
        with open('/proc/%d/status' % pid, 'rb') as f:
            threads = [line for line in f if line.startswith(b'Threads:')]
        if threads != [b'Threads:\t1\n']:
            return False
        with open('/proc/%d/task/%d/children' % (pid, pid), 'rb') as f:
            return not f.read().strip()
    except OSError:
        return False


def _end(worker):
    """SIGKILL and reap a worker that is between calls; close its ends."""
    _kill(worker)
    try:
        os.waitpid(worker.pid, 0)
    except ChildProcessError:
        pass
    worker.close()


def _kill(worker):
    # Not reaped yet, so the pid is still the worker's.
    if worker.status is None:
        os.kill(worker.pid, signal.SIGKILL)


def _children():
    """Pids of our children (zombies included); None if unknown."""
    pid = os.getpid()
    try:
        fd = os.open('/proc/%d/task/%d/children' % (pid, pid),
                     os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = b''
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return {int(child) for child in data.split()}
            data += chunk
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _wait_status(info):
    """waitid() result -> the status waitpid() would have returned."""
    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xff) << 8
    return info.si_status & 0x7f  # CLD_KILLED or CLD_DUMPED


def _remove_scratch(path):
    try:
        scratch.remove_tree(path)
    except OSError as err:
        log('supervisor', 'cannot remove %s: %s' % (path, one_line(err)))


def _write_quietly(fd, data):
    # The gateway's log is a regular file: a write does not block long.
    try:
        files._write_all(fd, data)
    except OSError:
        pass
