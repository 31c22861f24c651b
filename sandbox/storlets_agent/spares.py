"""Supervisor+worker pairs, forked before their call (the daemon's side).

Every call runs in a pair of processes (worker.py). Forking them and
setting the worker up costs milliseconds, so a daemon keeps ``--spares``
pairs ready: forked, descriptors closed, limits applied, blocked on their
sockets, and forks a replacement right after handing a call to one, while
that call runs. With no spare left (concurrent calls, ``--spares 0``), a
call gets a pair forked for it, the same way.

``fork_pair``
    Forks the supervisor (which forks its worker): returns a ``Pair``. The
    child is named ``process.SPARE_NAME`` from the start, so ``ps`` tells
    an idle spare from a call; it takes the daemon's name back with a call.
``Pair.hand``
    The hand-off: the invocation's input, output and metadata descriptors
    to the worker (the call's critical path, hence first), the log
    descriptor to the supervisor, each as one SBus frame on its own
    socketpair. The daemon then closes its ends: it keeps only the error
    and status pipes, which it reads once the supervisor has exited.

A pair never outlives the daemon: both processes have ``PR_SET_PDEATHSIG``
SIGKILL, and a daemon kills its spares before it exits. A spare is no
activity: an idle daemon exits on its idle timeout as before.
"""
import os
import signal
import socket

from storlets.sbus import channel

from storlets_agent import worker
from storlets_agent.process import (
    SPARE_NAME, close_fds_except, fork_blocked, log, one_line,
    reset_signals, set_name)


class Pair:
    """One pair as the daemon sees it: the supervisor and the daemon's ends."""

    def __init__(self, pid, control, call, error_fd, status_fd):
        self.pid = pid              # the supervisor's
        self.control = control      # socket to the supervisor
        self.call = call            # socket to the worker
        self.error_fd = error_fd    # read end: the worker's one-line error
        self.status_fd = status_fd  # read end: the worker's wait status

    def sockets(self):
        return [sock for sock in (self.control, self.call) if sock]

    def hand(self, invocation, deadline):
        """Give the pair its call (raises OSError, ProtocolError)."""
        message, fds = invocation.worker_message()
        channel.send_message(self.call, message, fds, deadline)
        channel.send_message(self.control, {'fds': ['log']},
                             [invocation.log_fd], deadline)
        self.close_sockets()

    def close_sockets(self):
        """Drop our ends; an idle supervisor then retires."""
        for sock in self.sockets():
            sock.close()
        self.control = self.call = None

    def close(self):
        """Once the supervisor is reaped: close everything of ours."""
        self.close_sockets()
        channel.close_all([self.error_fd, self.status_fd])

    def kill(self):
        """SIGKILL the supervisor (not reaped yet: the pid is still its)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def error_text(self):
        """What the worker (or supervisor) wrote on the error pipe."""
        try:
            return os.read(self.error_fd, 4096).decode('utf-8', 'replace')
        except OSError:
            return ''


def fork_pair(storlet, limits, name, owned_sockets):
    """Fork a pair; return its Pair. Raises OSError (e.g. EAGAIN).

    ``storlet``: (class, main, path); ``name``: the daemon's process name,
    which the pair takes with its call; ``owned_sockets()``: every socket
    object of the daemon, detached in the child.
    """
    opened = []
    try:
        control, control_peer = socket.socketpair()
        opened += [control, control_peer]
        call, call_peer = socket.socketpair()
        opened += [call, call_peer]
        error_r, error_w = os.pipe2(os.O_CLOEXEC)
        opened += [error_r, error_w]
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        opened += [status_r, status_w]
        daemon = os.getpid()
        pid = None
        # Named before the fork, so that the child never shows as the
        # daemon, not even for a moment.
        set_name(SPARE_NAME)
        try:
            pid = fork_blocked()
        finally:
            if pid != 0:
                set_name(name)
    except BaseException:
        for item in opened:
            if isinstance(item, socket.socket):
                item.close()
            else:
                os.close(item)
        raise
    if pid == 0:
        _become_supervisor(storlet, limits, name, daemon, owned_sockets,
                           [control, call], control_peer, call_peer,
                           error_w, status_w)  # does not return
    control_peer.close()
    call_peer.close()
    channel.close_all([error_w, status_w])
    for sock in (control, call):
        sock.setblocking(False)
    os.set_blocking(error_r, False)
    os.set_blocking(status_r, False)
    return Pair(pid, control, call, error_r, status_r)


def _become_supervisor(storlet, limits, name, daemon, owned_sockets,
                       ours, control_peer, call_peer, error_w, status_w):
    """The child of fork_pair: run the pair (worker.py); never return."""
    try:
        reset_signals()
        # Detach first, so that no socket object can later close a
        # descriptor number reused by the storlet.
        for sock in list(owned_sockets()) + ours:
            sock.detach()
        fds = worker.PairFds(control_peer.detach(), call_peer.detach(),
                             error_w, status_w)
        close_fds_except([0, 1, 2] + fds.all())
    except BaseException as err:
        log('supervisor', 'cannot start: %s' % one_line(err))
        os._exit(worker.WORKER_SETUP_FAILED)
    worker.run_pair(storlet, fds, limits, daemon, name)
