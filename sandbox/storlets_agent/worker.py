"""The worker: the process in which a storlet runs, once.

A supervisor (supervisor.py) forks it before there is a call for it, and
watches it; the daemon hands it its call (spares.py). Nothing of the
storlet runs anywhere else.

Worker (``_worker``)
    While a spare: dies with its supervisor; ``setsid()``; default signal
    handling; only its descriptors (close_range(2)); RLIMIT_CORE 0;
    RLIMIT_FSIZE ``max_file_size`` (files only: pipes, hence the output,
    are not limited) with SIGXFSZ ignored, so an oversized write fails
    with EFBIG instead of killing the process; stdout and stderr on the log
    pipe; the agent's side of a call run once on dummy pipes (``_warm_up``:
    copy-on-write page faults taken now rather than during the call). Not
    dumpable yet, so no storlet of another call can ptrace it while it
    waits. It blocks on its call socket until the daemon hands it the
    invocation's descriptors. Then: dumpable again (see
    ``process.set_dumpable``) and oom_score_adj 1000 (the first victim of
    an OOM kill, not the factory or a daemon), the call's scratch
    directory as cwd, ``TMPDIR`` and ``HOME`` (scratch.py), a new instance
    of the storlet class, and ``os._exit(<code>)``. On failure it writes a
    one-line error on its error pipe, which ends up in the reply. A process
    the storlet forked (without exec) that returns into this code exits at
    once, silently.

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

from storlets.sbus import channel, protocol
from storlets.sbus.protocol import ProtocolError

from storlets_agent import files
from storlets_agent.exits import (
    SPARE_UNUSED, WORKER_OK, WORKER_SETUP_FAILED, WORKER_STORLET_FAILED)
from storlets_agent.invocation import Invocation
from storlets_agent.process import (
    MAX_ERROR_TEXT, SPARE_NAME, close_fds_except, log, one_line,
    reset_signals, set_dumpable, set_name, set_oom_score_adj, set_parent_death_signal,
    unblock_signals)


#: oom_score_adj of a worker: the kernel's first choice.
WORKER_OOM_SCORE_ADJ = 1000


def run_worker(storlet, limits, call_fd, error_fd, log_fd, supervisor,
               name, scratch_dir=None, reuse_fd=None):
    """The worker's whole life, in the child of fork_blocked(); never
    returns. ``supervisor``: its pid; ``name``: the process name to take
    with the call; ``scratch_dir``: the call's (see scratch.py), or None;
    ``reuse_fd``: the socket on which it asks its supervisor for another
    call after one that went well (None: one call, then exit)."""
    code = WORKER_SETUP_FAILED
    try:
        if not set_parent_death_signal(signal.SIGKILL, supervisor):
            code = SPARE_UNUSED
            return
        os.setsid()
        reset_signals()
        own = [0, 1, 2, error_fd, log_fd]
        if reuse_fd is not None:
            own.append(reuse_fd)
        close_fds_except(own + [call_fd])
        _limit(limits)
        unblock_signals()
        for fd in (1, 2):
            os.dup2(log_fd, fd)  # print() goes to the storlet's log too
        if not readable(call_fd):  # no call waiting yet: time to spare
            _warm_up(storlet[1])
        calls = 0
        while True:
            invocation = _receive_call(call_fd, log_fd)
            if invocation is None:
                code = SPARE_UNUSED
                return
            set_name(name)
            _mark_for_oom_killer()
            if scratch_dir is not None:
                _enter_scratch(scratch_dir, invocation)
            code = run_storlet(storlet, invocation, error_fd)
            calls += 1
            if code != WORKER_OK or reuse_fd is None \
                    or calls >= limits.calls_per_worker:
                return
            next_call = _ask_for_next_call(own, reuse_fd)
            if next_call is None:
                return
            call_fd, scratch_dir = next_call
    except BaseException as err:
        try:
            _report(error_fd, 'Storlet process failed: %s' % one_line(err))
        except BaseException:
            pass
    finally:
        _flush_output()
        os._exit(code)


def _flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what the storlet printed
        except BaseException:
            pass


def _ask_for_next_call(own, reuse_fd):
    """After a call that went well: tell the supervisor, and wait for the
    next call's socket and scratch directory; None if there is none.

    Whatever the call left open is closed first, and its scratch directory
    left (the supervisor removes it). The supervisor decides whether this
    process may serve again: it does not rely on anything a storlet could
    have changed here (it checks threads and processes itself).
    """
    _flush_output()
    close_fds_except(own)
    os.chdir('/')
    set_name(SPARE_NAME)
    with socket.socket(fileno=os.dup(reuse_fd)) as sock:
        sock.setblocking(True)
        try:
            channel.send_message(sock, {'cmd': 'done'})
            message, fds = channel.recv_message(sock)
        except (OSError, ProtocolError):
            return None
    # Idle again: no storlet of another call may ptrace us while we wait.
    set_dumpable(False)
    if message.get('cmd') != 'next' or len(fds) != 1:
        channel.close_all(fds)
        return None
    return fds[0], message.get('scratch')


def readable(fd):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _warm_up(main):
    """Run the agent's side of a call once, on pipes, with no storlet.

    A worker is a copy-on-write fork: the first write to a page (and every
    object a call uses gets its reference count changed) costs a page
    fault. Taking most of them here, while the spare waits, keeps them off
    the call.
    """
    fds = []
    try:
        for _ in range(3):
            fds.extend(os.pipe2(os.O_CLOEXEC))
        in_r, in_w, out_r, out_w, md_r, md_w = fds
        os.write(in_w, b'warm-up')
        message, passed = Invocation(
            {'k': 'v'}, [(in_r, {'k': 'v'}, None, None)], out_w, md_w,
            out_w).worker_message()
        body = protocol.encode(message)[protocol.HEADER_SIZE:]
        invocation = Invocation.from_worker_message(
            protocol.decode_body(body, len(passed)), passed, out_w)
        fd, metadata, start, end = invocation.inputs[0]
        # Descriptors dup()ed: the objects close theirs, we close ours.
        in_file = files.StorletInputFile(os.dup(fd), metadata, start, end)
        out_file = files.StorletOutputFile(os.dup(out_w), os.dup(md_w))
        logger = files.StorletLogger(main, os.dup(out_w))
        out_file.set_metadata(in_file.get_metadata())
        os.close(in_w)
        fds.remove(in_w)
        out_file.write(in_file.read(files.CHUNK_SIZE))
        logger.debug('warm-up')
        dict(invocation.params, storlet_execution_path='')
        for stream in (in_file, out_file, logger):
            stream.close()
    except Exception:
        pass  # only an optimisation
    finally:
        channel.close_all(fds)


def _receive_call(call_fd, log_fd):
    """Wait for the hand-off; the Invocation, or None if there is none.

    The call's logger gets a copy of the log pipe: it closes it at the end
    of the call, and the pipe must stay for the next one.
    """
    with socket.socket(fileno=call_fd) as sock:
        sock.setblocking(True)
        try:
            message, fds = channel.recv_message(sock)
        except (OSError, ProtocolError):
            return None
    return Invocation.from_worker_message(message, fds, os.dup(log_fd))


def _enter_scratch(path, invocation):
    """The call's scratch directory: cwd, TMPDIR, HOME, tempfile's."""
    os.chdir(path)
    os.environ['TMPDIR'] = os.environ['HOME'] = path
    tempfile = sys.modules.get('tempfile')
    if tempfile is not None:
        tempfile.tempdir = path   # it caches what it found first
    invocation.params = dict(invocation.params, storlet_scratch_dir=path)


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


def _report(error_fd, text):
    # Far below the pipe's capacity, so the write cannot block.
    os.write(error_fd, text[:MAX_ERROR_TEXT].encode('utf-8', 'replace'))
