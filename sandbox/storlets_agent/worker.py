"""One storlet call: a supervisor process and the worker it watches.

The daemon forks a *supervisor* (trusted agent code), which forks the
*worker* (the storlet runs there), usually before there is a call to run:
the pair waits, fully set up, as a *spare* (see spares.py)::

    daemon ─ supervisor ─ worker ─ whatever the storlet starts ...

Supervisor (``run_pair``)
    * dies with the daemon (``PR_SET_PDEATHSIG``) and is a child subreaper:
      anything the storlet starts stays below it, even after setsid(),
      setpgid() or a double fork;
    * idle, waits on its control socket for the call's log descriptor
      (the hand-off); end of file there means "not needed": it kills its
      idle worker and exits ``SPARE_UNUSED``, as it does when the idle
      worker dies;
    * relays the storlet's log: the worker's logger, stdout and stderr all
      write into a pipe that the supervisor copies to the gateway's log
      file, up to ``max_log_size`` bytes per call, then one line
      ``<main> WARN: ... log truncated`` and nothing more (reading on, so
      the storlet never blocks);
    * on SIGTERM (the daemon cancels the call) SIGKILLs the worker;
    * once the worker has ended: if the worker left no process (it has no
      other child: the check is one read of /proc/self/task/<pid>/children,
      since every orphan of the call is re-parented to it), it reports at
      once; otherwise it first SIGKILLs everything left below it
      (``process.kill_descendants``) and reaps it. It writes the worker's
      wait status on the status pipe and exits 0 (1 if something could not
      be killed). Its exit is the daemon's signal that the call is over:
      nothing of the call outlives it.

Worker (``_worker``)
    While a spare: dies with its supervisor; ``setsid()``; default signal
    handling; only its descriptors (close_range(2)); RLIMIT_CORE 0;
    RLIMIT_FSIZE ``max_file_size`` (files only: pipes, hence the output,
    are not limited) with SIGXFSZ ignored, so an oversized write fails
    with EFBIG instead of killing the process; stdout and stderr on the log
    pipe. Not dumpable yet (as the daemon), so no storlet of another call
    can ptrace it while it waits. It blocks on its call socket; the
    hand-off brings the invocation's descriptors. Then: dumpable again
    (see ``process.set_dumpable``) and oom_score_adj 1000 (the first victim
    of an OOM kill, not the factory or a daemon), a new instance of the
    storlet class, and ``os._exit(<code>)``. On failure it writes a
    one-line error on the error pipe; the daemon puts it in its reply. A
    process the storlet forked (without exec) that returns into this code
    exits at once, silently.

Descriptors of a worker running a storlet: 0, 1 and 2 (1 and 2 go to the
log pipe), the invocation's inputs, output and metadata, the log pipe, the
error pipe.
"""
import os
import resource
import select
import signal
import socket
import sys

from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

from storlets_agent import files
from storlets_agent.invocation import Invocation
from storlets_agent.process import (
    MAX_ERROR_TEXT, SignalQueue, close_fds_except, fork_blocked,
    kill_descendants, log, one_line, reset_signals, set_child_subreaper,
    set_dumpable, set_name, set_oom_score_adj, set_parent_death_signal,
    unblock_signals)

#: Worker exit codes: how one storlet call ended.
WORKER_OK = 0
WORKER_STORLET_FAILED = 3   # the storlet failed; the text is on the error pipe
WORKER_SETUP_FAILED = 4     # the call could not be set up (e.g. bad window)
#: Supervisor exit codes.
SUPERVISOR_OK = 0           # the worker and all it started are gone
SUPERVISOR_LEFTOVERS = 1    # some process could not be killed
#: Exit code of a spare (supervisor or worker) that never got a call.
SPARE_UNUSED = 6

#: oom_score_adj of a worker: the kernel's first choice.
WORKER_OOM_SCORE_ADJ = 1000

_CHUNK = 64 * 1024
_STOP = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


class PairFds:
    """The supervisor's descriptors, as the daemon's child holds them."""

    def __init__(self, control, call, error, status):
        self.control = control  # socket: the daemon hands the log fd here
        self.call = call        # socket: the daemon hands the call here
        self.error = error      # write end: the worker's one-line error
        self.status = status    # write end: the worker's wait status

    def all(self):
        return [self.control, self.call, self.error, self.status]


# -- the supervisor -----------------------------------------------------------

def run_pair(storlet, fds, limits, daemon, name):
    """The supervisor's whole life, in a child of the daemon; never returns.

    ``storlet``: (class, main, path); ``fds``: PairFds; ``daemon``: the
    parent's pid; ``name``: the process name to take with a call. The
    caller has reset the signals (still blocked) and closed all other
    descriptors but 0-2.
    """
    code = SUPERVISOR_LEFTOVERS
    try:
        code = _Supervisor(storlet, fds, limits, name).run(daemon)
    except BaseException as err:
        log('supervisor', 'failed: %s' % one_line(err))
    finally:
        os._exit(code)


class _Supervisor:

    def __init__(self, storlet, fds, limits, name):
        self.storlet = storlet
        self.fds = fds
        self.limits = limits
        self.name = name
        self.signals = None
        self.worker = None
        self.worker_status = None
        self.log_r = None
        self.logged = 0           # log bytes written so far
        self.log_ends_line = True
        self.truncated = False

    def run(self, daemon):
        if not set_parent_death_signal(signal.SIGKILL, daemon):
            return SPARE_UNUSED  # the daemon is already gone
        set_child_subreaper()
        self.signals = SignalQueue()
        self.log_r, log_w = os.pipe2(os.O_CLOEXEC)
        me = os.getpid()
        try:
            self.worker = fork_blocked()
        except OSError as err:
            _report(self.fds.error, 'Cannot start the storlet process: %s'
                    % one_line(err))
            # No status written: the daemon takes this exit code instead.
            return WORKER_SETUP_FAILED
        if self.worker == 0:
            _worker(self.storlet, self.limits, self.fds, log_w, me,
                    self.name)  # does not return
        channel.close_all([self.fds.call, log_w, self.fds.error])
        os.set_blocking(self.log_r, False)
        log_fd = self._wait_for_call()
        if log_fd is None:
            return self._retire()
        set_name(self.name)
        poller = select.poll()
        poller.register(self.signals.fd, select.POLLIN)
        poller.register(self.log_r, select.POLLIN)
        while self.worker_status is None:
            for fd, _ in poller.poll():
                if fd == self.log_r:
                    if self._relay(log_fd) is False:
                        poller.unregister(self.log_r)
                else:
                    self._handle_signals(self.signals.drain())
        return self._finish(log_fd)

    def _wait_for_call(self):
        """The call's log descriptor, or None if there will be no call."""
        control = socket.socket(fileno=self.fds.control)
        control.setblocking(False)
        poller = select.poll()
        poller.register(self.signals.fd, select.POLLIN)
        poller.register(control, select.POLLIN)
        try:
            while True:
                for fd, _ in poller.poll():
                    if fd == self.signals.fd:
                        self._handle_signals(self.signals.drain())
                    elif fd == control.fileno():
                        return _receive_log_fd(control)
                if self.worker_status is not None:
                    # The spare's worker died (killed?) before or just
                    # after a hand-off: in the latter case it is the
                    # call's verdict.
                    if select.select([control], [], [], 0)[0]:
                        return _receive_log_fd(control)
                    return None
        finally:
            control.close()

    def _retire(self):
        """No call for this spare: end its worker, exit SPARE_UNUSED."""
        if self.worker_status is None:
            os.kill(self.worker, signal.SIGKILL)
        if _children() != {self.worker}:
            kill_descendants(keep={self.worker}, group=self.worker,
                             timeout=2)
        os.waitpid(self.worker, 0)
        return SPARE_UNUSED

    def _finish(self, log_fd):
        # The worker is a zombie until we reap it: its pid, hence the id of
        # the process group it created, cannot be reused meanwhile.
        clean = True
        if _children() != {self.worker}:
            clean = kill_descendants(keep={self.worker}, group=self.worker)
        os.waitpid(self.worker, 0)
        while self._relay(log_fd) is True:  # the rest, up to EOF
            pass
        os.close(log_fd)
        os.write(self.fds.status, b'%d' % self.worker_status)
        if not clean:
            log('supervisor', 'processes of call %d could not be killed'
                % self.worker)
        return SUPERVISOR_OK if clean else SUPERVISOR_LEFTOVERS

    def _handle_signals(self, signums):
        if signums & _STOP and self.worker_status is None:
            # Cancelled: the worker is not reaped yet, so its pid is its.
            os.kill(self.worker, signal.SIGKILL)
        while True:
            # WNOWAIT for the worker (see _finish); orphans we adopted that
            # ended are reaped right away.
            try:
                info = os.waitid(os.P_ALL, 0,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            if info.si_pid == self.worker:
                self.worker_status = _wait_status(info)
                return
            os.waitpid(info.si_pid, 0)

    def _relay(self, log_fd):
        """Copy one chunk of the log pipe.

        True if there was one, False at EOF, None if the pipe is empty.
        """
        try:
            data = os.read(self.log_r, _CHUNK)
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


def _receive_log_fd(control):
    """Read the hand-off on the control socket; None at end of file."""
    try:
        _, fds = channel.recv_message(control, channel.deadline_after(5))
    except (OSError, ProtocolError):
        return None
    if len(fds) != 1:
        channel.close_all(fds)
        return None
    return fds[0]


def _children():
    """Pids of our children (zombies included); None if unknown."""
    pid = os.getpid()
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid), 'rb') as f:
            return {int(child) for child in f.read().split()}
    except (OSError, ValueError):
        return None


def _wait_status(info):
    """waitid() result -> the status waitpid() would have returned."""
    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xff) << 8
    return info.si_status & 0x7f  # CLD_KILLED or CLD_DUMPED


def _write_quietly(fd, data):
    # The gateway's log is a regular file: a write does not block long.
    try:
        files._write_all(fd, data)
    except OSError:
        pass


def _report(error_fd, text):
    # Far below the pipe's capacity, so the write cannot block.
    os.write(error_fd, text[:MAX_ERROR_TEXT].encode('utf-8', 'replace'))


# -- the worker -------------------------------------------------------------

def _worker(storlet, limits, fds, log_fd, supervisor, name):
    """The worker's whole life, in the child of fork_blocked()."""
    code = WORKER_SETUP_FAILED
    error_fd = fds.error
    try:
        if not set_parent_death_signal(signal.SIGKILL, supervisor):
            code = SPARE_UNUSED
            return
        os.setsid()
        reset_signals()
        close_fds_except([0, 1, 2, error_fd, log_fd, fds.call])
        _limit(limits)
        unblock_signals()
        for fd in (1, 2):
            os.dup2(log_fd, fd)  # print() goes to the storlet's log too
        invocation = _receive_call(fds.call, log_fd)
        if invocation is None:
            code = SPARE_UNUSED
            return
        set_name(name)
        _mark_for_oom_killer()
        code = run_storlet(storlet, invocation, error_fd)
    except BaseException as err:
        try:
            _report(error_fd, 'Storlet process failed: %s' % one_line(err))
        except BaseException:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # what the storlet printed
            except BaseException:
                pass
        os._exit(code)


def _receive_call(call_fd, log_fd):
    """Wait for the hand-off; the Invocation, or None if there is none."""
    with socket.socket(fileno=call_fd) as sock:
        sock.setblocking(True)
        try:
            message, fds = channel.recv_message(sock)
        except (OSError, ProtocolError):
            return None
    return Invocation.from_worker_message(message, fds, log_fd)


def _limit(limits):
    """No core dumps, a file size cap: before any storlet code."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = limits.max_file_size
    if hard != resource.RLIM_INFINITY:
        size = min(size, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # Past the limit, write() fails with EFBIG instead of the process
    # being killed by SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _mark_for_oom_killer():
    """oom_score_adj 1000, once the call is ours (see the docstring)."""
    try:
        # Our /proc/self is root's while we are not dumpable (inherited).
        set_dumpable(True)
        set_oom_score_adj(WORKER_OOM_SCORE_ADJ)
    except OSError as err:
        log('worker', 'cannot raise oom_score_adj: %s' % one_line(err))


def run_storlet(storlet, invocation, error_fd):
    """Run the storlet once in this (worker) process; return the exit code."""
    storlet_class, main, path = storlet
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
    me = os.getpid()
    error = None
    try:
        storlet_class(logger)(in_files, [out_file], params)
    except BaseException as err:
        if os.getpid() != me:
            os._exit(1)  # a fork of the storlet's: not the call's verdict
        if not (isinstance(err, SystemExit) and err.code in (None, 0)):
            error = one_line(err)
            _log_quietly(logger.exception, 'Storlet failed: %s' % error)
    if os.getpid() != me:
        os._exit(0)
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
