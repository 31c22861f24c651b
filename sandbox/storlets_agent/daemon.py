"""StorletDaemon: one warm process per storlet version, one worker per call.

Life of a daemon
----------------
1. The factory forks it (or, for another python version, execs
   ``python<v> -m storlets_agent daemon ...``). It prepends the storlet
   directory to ``sys.path``, imports ``module``, gets ``Class`` (main is
   ``"module.Class"``), binds ``<runtime-dir>/d-<key>.sock`` and then writes
   one line on its readiness pipe: ``ok``, or ``error <reason>``.
2. It keeps ``spares`` warm pairs: a supervisor with a worker forked and
   set up ahead of the call (spares.py, supervisor.py, worker.py). It
   serves ``ping`` and ``execute`` (see ``storlets.sbus``), one request per
   connection. Each ``execute`` is handed to an idle pair (or to a pair
   forked for it when none is idle), whose worker runs the storlet once.
   The connection gets the single reply once the worker and everything it
   started are gone: from the supervisor itself (it tells the daemon first
   and is an idle pair again), or, if the supervisor exits or dies, from
   the daemon once it has reaped it and killed what it left. If the
   gateway closes the connection first, the call is cancelled: the
   supervisor kills the worker and everything below it.
3. It exits after ``idle_timeout`` seconds without a connection, or on
   SIGTERM once the calls in flight are done (SIGQUIT: cancel them, exit),
   killing its pairs first.

Why one thread and a poll loop: fork() copies only the calling thread, and
a lock another thread held at that moment stays locked forever in the
child; and a pair's ``PR_SET_PDEATHSIG`` fires when the *thread* that
forked it ends. With a single thread, every pair starts from a consistent
interpreter and lives exactly as long as the daemon. Nothing in the loop
blocks for long: replies are tiny, and a request frame must arrive whole
within REQUEST_TIMEOUT. A missing warm pair is forked from the loop (one
system call for the parent; the children do the rest of the set-up); one
that cannot be forked, or that dies idle, is retried after
SPARE_RETRY_DELAY, so a saturated sandbox is not hammered.

The daemon is a child subreaper too: if a supervisor dies without cleaning
up (SIGKILLed by the OOM killer or by the storlet itself), its orphans come
here, and the daemon kills every child of its own that is not a live
supervisor (a live supervisor is a subreaper, so a process of *its* calls
can never end up here).
"""
import functools
import importlib
import os
import signal
import sys
import time

from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

from storlets_agent import spares, supervisor
from storlets_agent.exits import DAEMON_OK, DAEMON_START_FAILED
from storlets_agent.invocation import Invocation
from storlets_agent.process import (
    DEFAULT_SPARES, MAX_ERROR_TEXT, Limits, SignalQueue, describe_status,
    get_name, kill_descendants, listen, log, one_line, set_child_subreaper,
    set_dumpable)
from storlets_agent.serving import (
    REQUEST_TIMEOUT, DaemonSocket, ended_children)

#: Seconds a cancelled call's supervisor has to clean up and give its
#: verdict (or exit) before it is SIGKILLed (a storlet may have stopped it);
#: what it leaves behind then comes to the daemon, which kills it.
CANCEL_GRACE = 2.0
#: Seconds the daemon spends at most killing what a supervisor left.
STRAY_KILL_TIMEOUT = 2.0
#: Seconds before forking a spare again once one could not be forked or
#: died unused.
SPARE_RETRY_DELAY = 0.5
#: Seconds the pairs have to exit when the daemon does.
RETIRE_GRACE = 1.0
#: Pairs a daemon keeps at most: one forked for a call that found none idle
#: stays after it while there are fewer, so a daemon's pool grows to the
#: concurrency it sees (a worker may serve many calls, see worker.py).
MAX_PAIRS = 32
#: Seconds a pair beyond ``spares`` may stay idle before it goes.
EXTRA_PAIR_IDLE = 10.0


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

class Call:
    """One execute in flight: its pair, the connection owed a reply."""

    def __init__(self, pair, conn):
        self.pair = pair
        self.pid = pair.pid         # the supervisor's
        self.conn = conn            # None once the gateway has hung up
        self.verdict = None         # (status, error) once known
        self.kill_at = None         # once cancelled: when to SIGKILL it
        self.killed = False

    def cancel(self):
        """Have the supervisor kill its worker and all below."""
        if self.kill_at is None:
            self.kill_at = time.monotonic() + CANCEL_GRACE
        self.pair.cancel()


# -- the daemon ----------------------------------------------------------

class StorletDaemon(DaemonSocket):
    """Serves one storlet version on ``<runtime_dir>/d-<key>.sock``."""

    def __init__(self, runtime_dir, key, name, main, path, idle_timeout,
                 limits=None, spare_count=DEFAULT_SPARES):
        self._init_socket(runtime_dir, key, 'daemon %s/%s' % (name, key))
        self.key = key
        self.name = name
        self.main = main
        self.path = path
        self.idle_timeout = idle_timeout
        self.limits = limits or Limits()
        self.storlet_class = None
        self.spare_count = spare_count
        # {supervisor pid: spares.Pair}, oldest first; a pair's call in
        # flight is its ``running`` (see ``calls``)
        self.pairs = {}
        self.spare_retry_at = 0.0
        self.comm = b''      # our process name, which pairs take back

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
        self.comm = get_name()
        self.storlet_class = load_storlet(self.main, self.path)
        try:
            self.listener, self.listener_id = listen(self.socket_path)
        except OSError as err:
            raise StartError('Cannot listen on %s: %s'
                             % (self.socket_path, one_line(err)))

    @property
    def calls(self):
        """{supervisor pid: Call} of the calls in flight."""
        return {pid: pair.running for pid, pair in self.pairs.items()
                if pair.running is not None}

    def serve(self):
        """The loop; returns the exit code once stopped."""
        self._loop()
        self._retire_pairs()
        log(self.who, 'exiting')
        return DAEMON_OK

    def _before_wait(self):
        self._top_up()

    def _add_handlers(self, handlers):
        for call in self.calls.values():
            if call.conn is not None:
                handlers[call.conn.fileno()] = functools.partial(
                    self._check_gateway, call)
        for pair in self.pairs.values():
            if pair.control is not None:
                handlers[pair.control.fileno()] = functools.partial(
                    self._read_pair, pair)

    def _timeout(self):
        deadlines = list(self.pending.values())
        deadlines += [call.kill_at for call in self.calls.values()
                      if call.kill_at is not None and not call.killed]
        if self._idle():
            deadlines.append(self.last_activity + self.idle_timeout)
        if self._spares_missing():
            deadlines.append(self.spare_retry_at)
        extra = self._extra_pairs()
        if extra:
            deadlines.append(extra[0].idle_since + EXTRA_PAIR_IDLE)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire(self, now):
        self._expire_pending(now)
        for call in self.calls.values():
            if not call.killed and call.kill_at is not None \
                    and call.kill_at <= now:
                log(self.who, 'call %d: its supervisor did not answer '
                    'when cancelled: killing it' % call.pid)
                call.killed = True
                os.kill(call.pid, signal.SIGKILL)
        if self._idle() and now >= self.last_activity + self.idle_timeout:
            self._stop_listening('idle for %g s' % self.idle_timeout)
        for pair in self._extra_pairs():
            if pair.idle_since + EXTRA_PAIR_IDLE <= now:
                pair.retire()

    def _sockets(self):
        """Every socket object this process owns (a worker detaches them)."""
        if self.listener is not None:
            yield self.listener
        yield from self.pending
        yield from (call.conn for call in self.calls.values() if call.conn)
        for pair in self.pairs.values():
            yield from pair.sockets()

    # -- calls

    def _execute(self, conn, message, fds):
        try:
            invocation = Invocation.from_message(message, fds)
        except ValueError as err:
            channel.close_all(fds)
            self._answer(conn, {'ok': False, 'error': str(err)})
            return
        try:
            pair = self._hand(invocation, conn)
        except OSError as err:
            self._answer(conn, {'ok': False, 'error':
                                'Cannot start the storlet process: %s'
                                % one_line(err)})
            return
        finally:
            channel.close_all(fds)  # the pair's now (or nobody's)
        pair.running = Call(pair, conn)

    def _hand(self, invocation, conn):
        """Give the call to an idle pair, else to a new one; return it.

        Raises OSError when no pair can be had (fork() failed).
        """
        deadline = channel.deadline_after(REQUEST_TIMEOUT)
        if not any(pair.ready() for pair in self.pairs.values()):
            # A supervisor tells us it is idle before it replies to the
            # gateway: the verdict of the call before may be waiting.
            for pair in list(self.pairs.values()):
                if pair.busy:
                    self._read_pair(pair)
        # Idle the shortest first (last in, first out): a few pairs stay
        # busy and the pairs a burst forked beyond them idle out.
        for pair in sorted((p for p in self.pairs.values() if p.ready()),
                           key=lambda p: -p.idle_since):
            try:
                pair.hand(invocation, conn, True, deadline)
                return pair
            except spares.Started as err:
                # The call is this pair's, but its supervisor is gone:
                # the reply comes once the daemon has cleaned up after it.
                log(self.who, 'pair %d is gone: %s' % (pair.pid, err))
                pair.drop()
                return pair
            except (OSError, ProtocolError) as err:
                # Killed while idle (by a storlet of another call?).
                log(self.who, 'pair %d is gone: %s' % (pair.pid,
                                                       one_line(err)))
                pair.drop()
        # --spares 0: a pair per call, none kept
        keep = len(self._pool()) < (max(self.spare_count, MAX_PAIRS)
                                    if self.spare_count else 0)
        pair = self._fork_pair(keep)
        try:
            pair.hand(invocation, conn, keep, deadline)
        except spares.Started as err:
            log(self.who, 'pair %d is gone: %s' % (pair.pid, err))
            pair.drop()
        except (OSError, ProtocolError) as err:
            pair.drop()
            raise OSError(one_line(err))
        return pair

    def _fork_pair(self, keep):
        pair = spares.fork_pair(
            (self.storlet_class, self.main, self.path), self.limits,
            self.comm, keep, self._sockets)
        self.pairs[pair.pid] = pair
        return pair

    def _pool(self):
        """The warm pairs: idle or busy, that stay after their call."""
        return [pair for pair in self.pairs.values() if pair.keep]

    def _extra_pairs(self):
        """The idle warm pairs beyond ``spare_count``, idle the longest
        first (they go after EXTRA_PAIR_IDLE)."""
        idle = sorted((pair for pair in self._pool() if pair.ready()),
                      key=lambda pair: pair.idle_since)
        return idle[:max(0, len(self._pool()) - self.spare_count)]

    def _spares_missing(self):
        return (len(self._pool()) < self.spare_count
                and self.listener is not None)

    def _top_up(self):
        """Fork warm pairs up to spare_count (not while stopping)."""
        while self._spares_missing() \
                and time.monotonic() >= self.spare_retry_at:
            try:
                self._fork_pair(True)
            except OSError as err:
                log(self.who, 'cannot fork a spare: %s' % one_line(err))
                self.spare_retry_at = time.monotonic() + SPARE_RETRY_DELAY
                return

    def _retire_pairs(self):
        """On exit: the pairs end, then whatever is left below us dies.

        Closing its control socket tells a supervisor to exit; it may be
        replying to the gateway still (it tells us first), so it gets
        RETIRE_GRACE to do so before it is killed.
        """
        for pair in self.pairs.values():
            pair.close()
        deadline = time.monotonic() + RETIRE_GRACE
        while self.pairs and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.pairs.pop(pid, None)
            else:
                time.sleep(0.001)
        for pair in self.pairs.values():
            pair.drop()
        self.pairs.clear()
        if not kill_descendants(timeout=STRAY_KILL_TIMEOUT):
            log(self.who, 'some processes could not be killed')

    def _read_pair(self, pair):
        """Messages from a supervisor (see spares.py)."""
        while pair.control is not None:
            try:
                got = supervisor.receive(pair.control)
            except (OSError, ProtocolError):
                pair.close()  # it is exiting: _reap will see it
                return
            if got is None:
                return
            message, fds = got
            command = message.get('cmd')
            if command == 'verdict':
                if len(fds) == 1:  # the call socket of its next worker
                    pair.set_call(fds.pop())
                self._on_verdict(pair, message)
            elif command == 'error':
                pair.error = str(message.get('error', ''))
            channel.close_all(fds)

    def _on_verdict(self, pair, message):
        call = pair.running
        pair.busy = False
        pair.idle_since = time.monotonic()
        status = message.get('status')
        if call is None or not isinstance(status, int):
            return
        call.verdict = (status, str(message.get('error') or ''))
        if message.get('recycle'):
            # Nothing of the call is left, the pair is a spare again, and
            # it replies to the gateway itself.
            pair.running = None
            self.last_activity = time.monotonic()
            if call.conn is not None:
                call.conn.close()
                call.conn = None
        else:
            pair.keep = False  # it exits: reply once it is reaped

    def _check_gateway(self, call):
        """The gateway's connection is readable: has it hung up?"""
        if call.conn is None or not self._hung_up(call.conn):
            return
        # The supervisor tells us before it replies: a gateway that has its
        # reply may close before we have read that.
        self._read_pair(call.pair)
        if self.pairs.get(call.pid) is not call.pair \
                or call.pair.running is not call:
            return
        log(self.who, 'gateway closed the connection of call %d: '
            'cancelling it' % call.pid)
        call.cancel()
        call.conn.close()
        call.conn = None

    def _reap(self):
        """Collect every ended child: the one place children are reaped."""
        ended = []
        strays = False
        for pid, status in ended_children():
            pair = self.pairs.get(pid)
            if pair is not None and not pair.dropped:
                self._read_pair(pair)  # its last words: verdict, error
            self.pairs.pop(pid, None)
            call = None
            if pair is not None:
                call, pair.running = pair.running, None
            if call is None or status != 0:
                # An orphan we adopted, a pair that died, or a supervisor
                # that did not clean up (killed?): what it left is ours.
                strays = True
            if call is not None:
                ended.append((call, status))
            if pair is not None:
                pair.close()
                if call is None and not pair.dropped:
                    log(self.who, 'idle pair %d %s%s' % (
                        pid, describe_status(status),
                        ': ' + pair.error if pair.error else ''))
                    self.spare_retry_at = (time.monotonic()
                                           + SPARE_RETRY_DELAY)
        # Before any reply: a call is over when all of its processes are.
        if strays and not kill_descendants(keep=set(self.pairs),
                                           timeout=STRAY_KILL_TIMEOUT):
            log(self.who, 'some processes could not be killed')
        for call, status in ended:
            self._finish(call, status)

    def _finish(self, call, supervisor_status):
        """Reply for an ended call: its verdict, else how its pair ended."""
        if call.verdict is not None:
            status, error_text = call.verdict
        else:  # the supervisor died first, or never forked a worker
            status, error_text = supervisor_status, call.pair.error
        self.last_activity = time.monotonic()
        if call.conn is None:
            return
        reply = supervisor.reply_for(status, error_text)
        self._answer(call.conn, reply)
        call.conn = None
        if not reply['ok']:
            log(self.who, 'call %d failed: %s' % (call.pid, reply['error']))

    # -- stopping

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


def _report_ready(ready_fd, line):
    try:
        os.write(ready_fd, (line[:MAX_ERROR_TEXT] + '\n').encode('utf-8'))
    finally:
        os.close(ready_fd)


def run_daemon(runtime_dir, key, name, main, path, idle_timeout, ready_fd,
               limits=None, spare_count=DEFAULT_SPARES):
    """Start one daemon, report on ``ready_fd``, serve; return the exit code.

    Called in a child of the factory (signals blocked and reset, other
    descriptors closed) or by ``python -m storlets_agent daemon``.
    """
    daemon = StorletDaemon(runtime_dir, key, name, main, path, idle_timeout,
                           limits, spare_count)
    try:
        daemon.start()
    except StartError as err:
        log(daemon.who, str(err))
        _report_ready(ready_fd, 'error %s' % err)
        return DAEMON_START_FAILED
    _report_ready(ready_fd, 'ok')
    log(daemon.who, 'serving %s on %s' % (main, daemon.socket_path))
    return daemon.serve()
