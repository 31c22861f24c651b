"""The serving machinery every agent process shares.

``ServeLoop`` is the one poll loop (hooks: handlers, deadlines, when to
stop) of the factory, the Python daemon and the Java front;
``ended_children`` is how each of them reaps. ``DaemonSocket`` is what a
storlet daemon (daemon.py, and the Java daemon's front, java_front.py) does
with its ``d-<key>.sock``: accepting connections, reading each one's single
request within REQUEST_TIMEOUT, answering ``ping`` and unknown commands,
handing ``execute`` to the daemon's ``_execute(conn, message, fds)``,
telling a gateway hang-up from stray bytes, turning signals into ``_reap``
/ ``_quit`` / a graceful stop, and stopping to listen.

A daemon calls ``_init_socket`` in its constructor and provides
``_execute``, ``_reap``, ``_quit``, ``_timeout`` (seconds to the next
deadline, or None), ``_expire``, ``_add_handlers`` (its own descriptors)
and a ``calls`` mapping (the calls in flight).
"""
import functools
import math
import os
import select
import signal
import time

from storlets import layout
from storlets.sbus import channel
from storlets.sbus.protocol import ChannelClosed, ProtocolError

from storlets_agent.process import log, one_line, unlink_if_ours

#: Seconds a client has to send its whole request once connected.
REQUEST_TIMEOUT = 5.0
#: Seconds a client has to take a reply (replies are a few bytes).
REPLY_TIMEOUT = 5.0


def ended_children():
    """``(pid, status)`` of each child that has ended, without blocking:
    how every agent process reaps (in one place each, on SIGCHLD)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


class ServeLoop:
    """The single-threaded poll loop of every agent process (the factory,
    the Python daemon, the Java front), in the manner of Gunicorn's arbiter:
    the process supplies hooks, the loop is written once.

    * ``_handlers()``: ``{fd: callable}`` to wait on (signals included);
    * ``_timeout()``: seconds to the next deadline, or None;
    * ``_expire(now)``: act on the deadlines that passed;
    * ``_done()``: True once the process may exit;
    * ``_before_wait()``: work between turns (e.g. forking spares).

    A handler that raises is logged and the loop goes on: a bad request or
    a bad storlet never costs the process.
    """

    who = ''

    def _before_wait(self):
        pass

    def _loop(self):
        while not self._done():
            self._before_wait()
            for handler in wait(self._handlers(), self._timeout()):
                try:
                    handler()
                except Exception as err:  # keep serving whatever happens
                    log(self.who, 'internal error: %s' % one_line(err))
            self._expire(time.monotonic())


def readable(sock):
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def wait(handlers, timeout):
    """Poll ``{fd: handler}`` for input, at most ``timeout`` seconds (None:
    no limit); return the handlers of the ready descriptors."""
    poller = select.poll()
    for fd in handlers:
        poller.register(fd, select.POLLIN)
    events = poller.poll(None if timeout is None
                         else math.ceil(timeout * 1000))
    # A handler may end what a later one refers to: each one checks.
    return [handlers[fd] for fd, _ in events]


def reply(conn, message, who):
    """Send one reply (the connection stays open); log a failure."""
    try:
        channel.send_message(
            conn, message, deadline=channel.deadline_after(REPLY_TIMEOUT))
    except (OSError, ProtocolError) as err:
        log(who, 'could not reply: %s' % one_line(err))


def answer(conn, message, who):
    """The last reply on a connection: send it, close it."""
    reply(conn, message, who)
    conn.close()


def receive_request(conn, who):
    """A connection's one request, ``(message, fds)``; None when there is
    none to serve (the peer hung up, or it was answered as bad)."""
    try:
        return channel.recv_message(
            conn, channel.deadline_after(REQUEST_TIMEOUT))
    except (OSError, ProtocolError) as err:
        if isinstance(err, ChannelClosed):
            conn.close()
        else:
            answer(conn, {'ok': False,
                          'error': 'Bad request: %s' % one_line(err)}, who)
        return None


class DaemonSocket(ServeLoop):
    """The listening socket of a daemon and its connections."""

    def _init_socket(self, runtime_dir, key, who):
        self.socket_path = os.path.join(runtime_dir,
                                        layout.daemon_socket(key))
        self.who = who
        self.signals = None         # a SignalQueue, once started
        self.listener = None
        self.listener_id = None
        self.pending = {}           # {conn: deadline}: request not read yet
        self.stopping = False
        self.last_activity = time.monotonic()

    def _handlers(self):
        handlers = {self.signals.fd: self._handle_signals}
        if self.listener is not None:
            handlers[self.listener.fileno()] = self._accept
        for conn in self.pending:
            handlers[conn.fileno()] = functools.partial(self._read_request,
                                                        conn)
        self._add_handlers(handlers)
        return handlers

    def _done(self):
        """Stopped, with no call in flight and no request unread."""
        return self.stopping and not self.calls and not self.pending

    def _idle(self):
        return not (self.stopping or self.calls or self.pending)

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
        if not self.stopping and readable(conn):
            # A client sends its request right after connecting: serve it
            # now rather than after another turn of the loop.
            self._read_request(conn)
        return True

    def _reply(self, conn, message):
        reply(conn, message, self.who)

    def _answer(self, conn, message):
        answer(conn, message, self.who)

    def _read_request(self, conn):
        if self.pending.pop(conn, None) is None:
            return
        request = receive_request(conn, self.who)
        if request is None:
            return
        message, fds = request
        command = message.get('cmd')
        if command == 'execute':
            self._execute(conn, message, fds)
            return
        channel.close_all(fds)
        if command == 'ping':
            self._answer(conn, {'ok': True})
        else:
            self._answer(conn, {'ok': False,
                                'error': 'Unknown command: %r' % (command,)})

    def _expire_pending(self, now):
        for conn, deadline in list(self.pending.items()):
            if deadline <= now:
                del self.pending[conn]
                conn.close()
                log(self.who, 'dropped a connection that sent no request')

    @staticmethod
    def _hung_up(conn):
        """Has the peer of a readable call connection closed it? (Bytes it
        sends are read and ignored: nothing is expected there.)"""
        try:
            return not conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

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
        if self.listener is not None:
            self.listener.close()
            self.listener = None
