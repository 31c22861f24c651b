"""Warm pairs: supervisors with a worker forked ahead of the call.

Forking a supervisor and a worker per call, setting the worker up, then
waiting for both to exit costs milliseconds. So a daemon keeps ``spares``
pairs (``--spares``, default 1): a supervisor that serves one call after
another, with a worker that it has forked and set up *before* the call
comes, blocked on its call socket. A worker serves up to
``--calls-per-worker`` calls in turn (a new storlet instance each time),
as long as each went well and left nothing behind; otherwise, and after
the last one, the next call gets a new worker. A call that finds no idle
pair (more concurrent calls than pairs) gets a pair forked for it, which
stays after its call while the daemon has fewer than
``daemon.MAX_PAIRS``; those beyond ``--spares`` go after
``daemon.EXTRA_PAIR_IDLE`` idle seconds. With ``--spares 0`` every call
gets a pair of its own, which exits after it. A pair that cannot be
forked, or that dies idle, is replaced after ``daemon.SPARE_RETRY_DELAY``.

The daemon talks to a supervisor over a socketpair (``control``), in SBus
frames, and to the waiting worker over another one (``call``)::

    daemon -> worker      Invocation.worker_message(), with the call's
        input, output and metadata descriptors; the daemon then closes its
        end. First: it is the call's critical path.
    daemon -> supervisor  {"cmd": "call", "keep": bool,
                           "fds": ["log", "conn"]}
        The gateway's log file and (a copy of) its connection: the
        supervisor relays the log, sees a hang-up, and replies. ``keep``:
        stay a spare after this call (else exit after it).
    daemon -> supervisor  {"cmd": "cancel"}
        The gateway has hung up: kill the worker (the daemon SIGKILLs the
        supervisor if it does not answer within CANCEL_GRACE).
    supervisor -> daemon  {"cmd": "verdict", "status": int, "error": str,
                           "recycle": bool[, "fds": ["call"]]}
        The worker's wait status and error text, once it and everything it
        started are gone. ``recycle``: the supervisor is an idle spare
        again (already named so, see below), the descriptor is the daemon's
        end of its next worker's call socket, and it sends the reply to
        the gateway itself, right after this message; it forks that worker
        a moment later (supervisor.SPARE_FORK_DELAY), or at once if a call
        comes first. Otherwise it exits, and the daemon replies once it
        has reaped it.
    supervisor -> daemon  {"cmd": "error", "error": str}
        It could not fork a worker; it exits. The error is the reply to a
        call the daemon has handed it meanwhile.

End of file on the control socket tells an idle supervisor to exit.
Supervisors and workers never outlive the daemon: they have
``PR_SET_PDEATHSIG`` SIGKILL, and the daemon kills them when it exits. An
idle pair is no activity: an idle daemon exits on its idle timeout.

Idle supervisors and their waiting workers are named ``SPARE_NAME`` (in
``ps``, /proc/<pid>/comm) from their fork on; a supervisor takes the
daemon's name back while it serves a call, and so does a worker once it
has its call.
"""
import os
import signal
import socket
import time

from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

from storlets_agent import supervisor, worker
from storlets_agent.process import (
    SPARE_NAME, close_fds_except, fork_blocked, log, one_line,
    reset_signals, set_name)


class Started(Exception):
    """The worker has its call, but its supervisor could not be told."""


class Pair:
    """One supervisor as the daemon sees it."""

    def __init__(self, pid, control, call, keep):
        self.pid = pid              # the supervisor's
        self.control = control      # socket to the supervisor
        self.call = call            # socket to the worker waiting, or None
        self.keep = keep            # one of the daemon's warm pairs?
        self.busy = False           # serving a call
        self.idle_since = time.monotonic()
        self.dropped = False        # given up on: killed, not reaped yet
        self.error = ''             # from an "error" message
        self.running = None         # the daemon's Call in flight here

    def ready(self):
        """Idle, kept, and with a worker waiting for a call."""
        return (self.keep and not self.busy and not self.dropped
                and self.call is not None)

    def sockets(self):
        return [sock for sock in (self.control, self.call) if sock]

    def hand(self, invocation, conn, keep, deadline):
        """Give the pair its call (raises OSError, ProtocolError).

        ``conn``: the gateway's connection; the supervisor gets a copy, to
        see a hang-up and to reply.

        The worker's part first: it is the call's critical path, and the
        worker then has a free CPU before its supervisor wakes up too. A
        supervisor whose worker ends before it has its part waits for it
        (supervisor.HAND_OFF_WAIT). If the worker's part cannot be sent, the
        call has not started and may go to another pair; once it is sent,
        the call is this pair's, whatever happens next: a call never runs
        twice.
        """
        self.busy = True
        self.keep = keep
        message, fds = invocation.worker_message()
        channel.send_message(self.call, message, fds, deadline)
        self.call.close()
        self.call = None
        try:
            channel.send_message(self.control, {
                'cmd': 'call', 'keep': keep, 'fds': ['log', 'conn']},
                [invocation.log_fd, conn.fileno()], deadline)
        except (OSError, ProtocolError) as err:
            raise Started(one_line(err))

    def set_call(self, fd):
        """A new worker waits on the socket ``fd`` (a "spare" message)."""
        if self.call is not None:
            self.call.close()
        self.call = socket.socket(fileno=fd)
        self.call.setblocking(False)

    def cancel(self):
        """Tell the supervisor to kill the call's worker (best effort).

        SIGCONT too, in case a storlet stopped it; the daemon SIGKILLs it
        if it does not answer in time.
        """
        if self.control is not None:
            try:
                self.control.send(channel.encode({'cmd': 'cancel'}))
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def retire(self):
        """An idle pair no longer needed: closing its control socket tells
        the supervisor to exit (it ends its worker first)."""
        self.dropped = True
        self.keep = False
        self.close()

    def drop(self):
        """Give up on the pair: SIGKILL it; it is reaped as a stray."""
        self.dropped = True
        self.keep = False
        self.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for sock in self.sockets():
            sock.close()
        self.control = self.call = None


def fork_pair(storlet, limits, name, keep, owned_sockets):
    """Fork a supervisor (which forks its first worker); return its Pair.

    Raises OSError (e.g. EAGAIN). ``storlet``: (class, main, path);
    ``name``: the daemon's process name, which a pair takes with a call;
    ``owned_sockets()``: every socket object of the daemon, detached in the
    child.
    """
    opened = []
    try:
        control, control_peer = socket.socketpair()
        opened += [control, control_peer]
        call, call_peer = socket.socketpair()
        opened += [call, call_peer]
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
        for sock in opened:
            sock.close()
        raise
    if pid == 0:
        _become_supervisor(storlet, limits, name, daemon, owned_sockets,
                           [control, call], control_peer, call_peer)
    control_peer.close()
    call_peer.close()
    control.setblocking(False)
    call.setblocking(False)
    return Pair(pid, control, call, keep)


def _become_supervisor(storlet, limits, name, daemon, owned_sockets, ours,
                       control_peer, call_peer):
    """The child of fork_pair: be the supervisor; never return."""
    try:
        reset_signals()
        # Detach first, so that no socket object can later close a
        # descriptor number reused by the storlet.
        for sock in list(owned_sockets()) + ours:
            sock.detach()
        control_fd = control_peer.detach()
        call_fd = call_peer.detach()
        close_fds_except([0, 1, 2, control_fd, call_fd])
    except BaseException as err:
        log('supervisor', 'cannot start: %s' % one_line(err))
        os._exit(worker.WORKER_SETUP_FAILED)
    supervisor.run_pair(storlet, limits, name, daemon, control_fd,
                        call_fd)
