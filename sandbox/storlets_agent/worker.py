"""One storlet call: a supervisor process and the worker it watches.

For each ``execute`` the daemon forks a *supervisor* (trusted agent code),
which forks the *worker* (the storlet runs there)::

    daemon ─ supervisor ─ worker ─ whatever the storlet starts ...

Supervisor (``supervise``)
    * is a child subreaper: anything the storlet starts stays below it,
      even after setsid(), setpgid() or a double fork;
    * relays the storlet's log: the worker's logger, stdout and stderr all
      write into a pipe that the supervisor copies to the gateway's log
      file, up to ``max_log_size`` bytes per call, then one line
      ``<main> WARN: ... log truncated`` and nothing more (reading on, so
      the storlet never blocks);
    * on SIGTERM (the daemon cancels the call) SIGKILLs the worker;
    * once the worker has ended, SIGKILLs every process left below it
      (``process.kill_descendants``), reaps them, writes the worker's wait
      status on the status pipe and exits 0 (1 if something could not be
      killed). Its exit is the daemon's signal that the call is over:
      nothing of the call outlives it.

Worker (``_worker``)
    ``setsid()``; dumpable again (its parents are not: see
    ``process.set_dumpable``); oom_score_adj 1000 (the first victim of an
    OOM kill, not the factory or a daemon); RLIMIT_CORE 0; RLIMIT_FSIZE
    ``max_file_size`` (files only: pipes, hence the output, are not
    limited) with SIGXFSZ ignored, so an oversized write fails with EFBIG
    instead of killing the process; default signal handling; only its
    descriptors. Then it runs the storlet and leaves with
    ``os._exit(<code>)``. On failure it writes a one-line error on the
    error pipe; the daemon puts it in its reply. A process the storlet
    forked (without exec) that returns into this code exits at once,
    silently.

Descriptors of a worker: 0, 1 and 2 (1 and 2 go to the log pipe), the
invocation's inputs, output and metadata, the log pipe, the error pipe.
"""
import os
import resource
import select
import signal
import sys

from storlets.sbus import channel

from storlets_agent import files
from storlets_agent.process import (
    MAX_ERROR_TEXT, SignalQueue, close_fds_except, fork_blocked,
    kill_descendants, log, one_line, reset_signals, set_child_subreaper,
    set_dumpable, set_oom_score_adj, unblock_signals)

#: Worker exit codes: how one storlet call ended.
WORKER_OK = 0
WORKER_STORLET_FAILED = 3   # the storlet failed; the text is on the error pipe
WORKER_SETUP_FAILED = 4     # the call could not be set up (e.g. bad window)
#: Supervisor exit codes.
SUPERVISOR_OK = 0           # the worker and all it started are gone
SUPERVISOR_LEFTOVERS = 1    # some process could not be killed

#: oom_score_adj of a worker: the kernel's first choice.
WORKER_OOM_SCORE_ADJ = 1000

_CHUNK = 64 * 1024


# -- the supervisor -----------------------------------------------------------

def supervise(storlet, invocation, error_fd, status_fd, limits):
    """The supervisor's whole life, in a child of the daemon; never returns.

    ``storlet``: (class, main, path). The caller has already reset the
    signals (still blocked) and closed all descriptors but 0-2,
    ``error_fd``, ``status_fd`` and the invocation's.
    """
    code = SUPERVISOR_LEFTOVERS
    try:
        code = _Supervisor(storlet, invocation, error_fd, status_fd,
                           limits).run()
    except BaseException as err:
        log('supervisor', 'failed: %s' % one_line(err))
    finally:
        os._exit(code)


class _Supervisor:

    def __init__(self, storlet, invocation, error_fd, status_fd, limits):
        self.storlet = storlet
        self.invocation = invocation
        self.error_fd = error_fd
        self.status_fd = status_fd
        self.limits = limits
        self.worker = None
        self.worker_status = None
        self.log_r = None
        self.logged = 0           # log bytes written so far
        self.log_ends_line = True
        self.truncated = False

    def run(self):
        set_child_subreaper()
        signals = SignalQueue()
        self.log_r, log_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.worker = fork_blocked()
        except OSError as err:
            _report(self.error_fd, 'Cannot start the storlet process: %s'
                    % one_line(err))
            # No status written: the daemon takes this exit code instead.
            return WORKER_SETUP_FAILED
        if self.worker == 0:
            _worker(self.storlet, self.invocation, self.error_fd, log_w,
                    self.limits)  # does not return
        # The worker holds these now; the gateway must see their EOF when
        # the storlet closes them, not when we exit. We keep the log file.
        log_fd = self.invocation.log_fd
        channel.close_all([fd for fd in self.invocation.fds if fd != log_fd]
                          + [log_w, self.error_fd])
        os.set_blocking(self.log_r, False)
        poller = select.poll()
        poller.register(signals.fd, select.POLLIN)
        poller.register(self.log_r, select.POLLIN)
        while self.worker_status is None:
            for fd, _ in poller.poll():
                if fd == self.log_r:
                    if self._relay(log_fd) is False:
                        poller.unregister(self.log_r)
                else:
                    self._handle_signals(signals.drain())
        # The worker is a zombie until we reap it: its pid, hence the id of
        # the process group it created, cannot be reused meanwhile.
        clean = kill_descendants(keep={self.worker}, group=self.worker)
        os.waitpid(self.worker, 0)
        while self._relay(log_fd) is True:  # the rest, up to EOF
            pass
        os.write(self.status_fd, b'%d' % self.worker_status)
        if not clean:
            log('supervisor', 'processes of call %d could not be killed'
                % self.worker)
        return SUPERVISOR_OK if clean else SUPERVISOR_LEFTOVERS

    def _handle_signals(self, signums):
        if signums & {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}:
            # Cancelled: the worker is not reaped yet, so its pid is its.
            os.kill(self.worker, signal.SIGKILL)
        while True:
            # WNOWAIT for the worker (see run); orphans we adopted that
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

def _worker(storlet, invocation, error_fd, log_fd, limits):
    """The worker's whole life, in the child of fork_blocked()."""
    code = WORKER_SETUP_FAILED
    try:
        os.setsid()
        reset_signals()
        invocation.log_fd = log_fd
        close_fds_except([0, 1, 2, error_fd] + invocation.fds)
        _contain(limits)
        unblock_signals()
        for fd in (1, 2):
            os.dup2(log_fd, fd)  # print() goes to the storlet's log too
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


def _contain(limits):
    """OOM score, no core dumps, a file size cap: before any storlet code."""
    try:
        # Our /proc/self is root's while we are not dumpable (inherited).
        set_dumpable(True)
        set_oom_score_adj(WORKER_OOM_SCORE_ADJ)
    except OSError as err:
        log('worker', 'cannot raise oom_score_adj: %s' % one_line(err))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = limits.max_file_size
    if hard != resource.RLIM_INFINITY:
        size = min(size, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # Past the limit, write() fails with EFBIG instead of the process
    # being killed by SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


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
