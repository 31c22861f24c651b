"""Sandbox agent latency: warm 1 KiB identity calls, spares off vs on.

No Swift, no docker: it starts ``python -m storlets_agent factory`` on a
temporary runtime directory (as tests/unit/sandbox does), starts a daemon
for the 64 KiB-block identity storlet (tests/functional/storlets/identity.py)
and times N warm calls of 1 KiB through real pipes, one at a time::

    python -m tests.bench.agent_bench                 # 500 calls per row
    python -m tests.bench.agent_bench --client raw --spares 2
    python -m tests.bench.agent_bench --sandbox /tmp/old/sandbox  # another
                                                      # agent (before/after)

Every row is measured in this run (the machine is noisy: compare rows, not
runs), twice: ``back-to-back`` (the next call as soon as the reply is
read) and ``paced`` (``--gap-ms``, default 5 ms, between calls, about what
a Swift request costs around its storlet call, so what a spare has to get
ready). Rows:

``floor``
    The same client against a stand-in daemon that runs the identity
    storlet in its own process, with no fork at all: the cost of the
    protocol, the pipes and the storlet itself. ``overhead`` in the other
    rows is their p50 minus the floor's p50 (same pacing): what the agent's
    processes cost.
``spares=0``
    The agent started with ``--spares 0``: a supervisor and a worker
    forked for each call.
``spares=default``
    The agent with its default options.
``spares=N``
    With ``--spares N`` (option, repeatable).

Columns (milliseconds): ``p50``/``p99`` from sending EXECUTE to having the
daemon's verdict; ``to-meta`` (p50) until the storlet's metadata has come;
``tail`` (p50) from the output's end of file to the verdict (``raw``
client only: the gateway's OutputStream reads both in one step).

``--client gateway`` (the default when eventlet imports) calls
``storlets.gateway.execution.execute`` as the object server does; ``--client
raw`` is a minimal blocking client on ``storlets.sbus.channel``. An agent
without ``--spares`` (from before warm spares) runs the spares rows as it
is; the header says so.
"""
import argparse
import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
SANDBOX = os.path.join(REPO, 'sandbox')
for _path in (REPO, SANDBOX):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from storlets.sbus import channel  # noqa: E402

IDENTITY = os.path.join(REPO, 'tests', 'functional', 'storlets',
                        'identity.py')
MAIN = 'identity.IdentityStorlet'
SIZE = 1024
TIMEOUT = 30.0


# -- the agent under test -----------------------------------------------------

def _agent_env(sandbox):
    return dict(os.environ, PYTHONDONTWRITEBYTECODE='1',
                PYTHONPATH=os.pathsep.join([sandbox, REPO]))


def agent_knows_spares(sandbox):
    out = subprocess.run(
        [sys.executable, '-m', 'storlets_agent', 'factory', '--help'],
        env=_agent_env(sandbox), capture_output=True, text=True).stdout
    return '--spares' in out


class Agent:
    """A factory subprocess on a private runtime dir, and one daemon."""

    def __init__(self, base, sandbox, storlet_dir, options):
        self.run_dir = os.path.join(base, 'run')
        os.makedirs(self.run_dir)
        self.log = open(os.path.join(base, 'agent.log'), 'wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'storlets_agent', 'factory',
             '--runtime-dir', self.run_dir] + options,
            env=_agent_env(sandbox), stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log)
        factory = os.path.join(self.run_dir, 'factory.sock')
        deadline = time.monotonic() + 10
        while True:
            try:
                channel.call(factory, {'cmd': 'ping'}, timeout=5)
                break
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('the factory did not start')
                time.sleep(0.01)
        reply = channel.call(factory, {'cmd': 'start_daemon', 'daemon': {
            'key': 'bench', 'name': 'identity', 'language': 'python',
            'main': MAIN, 'path': storlet_dir}}, timeout=30)
        if not reply.get('ok'):
            self.stop()
            raise RuntimeError('start_daemon: %s' % reply)
        self.socket = os.path.join(self.run_dir, reply['socket'])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- the floor: a daemon stand-in that does not fork --------------------------

def serve_in_process(path, storlet_dir):
    """Fork a process that answers execute by running the storlet itself."""
    pid = os.fork()
    if pid:
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError('the floor server did not start')
            time.sleep(0.01)
        return pid
    try:
        sys.path.insert(0, storlet_dir)
        from identity import IdentityStorlet
        from storlets_agent import files
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        while True:
            conn, _ = listener.accept()
            conn.setblocking(False)
            _, fds = channel.recv_message(conn)
            in_file = files.StorletInputFile(fds[0], {})
            out_file = files.StorletOutputFile(fds[1], fds[2])
            logger = files.StorletLogger(MAIN, fds[3])
            IdentityStorlet(logger)([in_file], [out_file], {})
            logger.close()
            channel.send_message(conn, {'ok': True})
            conn.close()
    finally:
        os._exit(0)


# -- clients: one call each, returning (total, to-metadata, tail) -------------

def raw_call(daemon_socket, data_path, log_fd):
    """A blocking client with channel: EXECUTE, metadata, output, verdict."""
    in_fd = os.open(data_path, os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    md_r, md_w = os.pipe2(os.O_CLOEXEC)
    began = time.perf_counter()
    conn = channel.connect(daemon_socket)
    try:
        channel.send_message(conn, {
            'cmd': 'execute', 'params': {},
            'inputs': [{'metadata': {}, 'start': None, 'end': None}],
            'fds': ['input', 'output', 'metadata', 'log']},
            [in_fd, out_w, md_w, log_fd])
        channel.close_all([in_fd, out_w, md_w])
        metadata = _read_to_eof(md_r)
        to_meta = time.perf_counter()
        output = _read_to_eof(out_r)
        eof = time.perf_counter()
        reply, _ = channel.recv_message(conn, time.monotonic() + TIMEOUT)
        done = time.perf_counter()
    finally:
        conn.close()
        channel.close_all([md_r, out_r])
    if not reply.get('ok') or metadata != b'{}' or len(output) != SIZE:
        raise RuntimeError('bad call: %r %r %d' % (reply, metadata,
                                                   len(output)))
    return done - began, to_meta - began, done - eof


def _read_to_eof(fd):
    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if not poller.poll(TIMEOUT * 1000):
            raise RuntimeError('the storlet did not answer')
        chunk = os.read(fd, 65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def gateway_call(daemon_socket, data_path, log_fd):
    """storlets.gateway.execution.execute, as the object server calls it."""
    from storlets.gateway import execution
    from storlets.gateway.invocation import (
        Invocation, StorletInput, StorletRef)
    invocation = Invocation(
        account='AUTH_bench', storlet=StorletRef('identity.py', 'python',
                                                 MAIN),
        params={}, inputs=[StorletInput({}, fd=os.open(
            data_path, os.O_RDONLY | os.O_CLOEXEC))])
    began = time.perf_counter()
    result = execution.execute(daemon_socket, invocation, '/bench', TIMEOUT)
    to_meta = time.perf_counter()
    size = 0
    try:
        for chunk in result.body:
            size += len(chunk)
    finally:
        result.body.close()
    done = time.perf_counter()
    if size != SIZE:
        raise RuntimeError('bad call: %d bytes' % size)
    return done - began, to_meta - began, None


# -- running and reporting ---------------------------------------------------

def measure(call, daemon_socket, data_path, log_path, calls, warmup, gap):
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(warmup):
            call(daemon_socket, data_path, log_fd)
        samples = []
        for _ in range(calls):
            if gap:
                time.sleep(gap)
            samples.append(call(daemon_socket, data_path, log_fd))
            os.ftruncate(log_fd, 0)
    finally:
        os.close(log_fd)
    return samples


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _ms(seconds):
    return '%8.2f' % (seconds * 1000) if seconds is not None else '%8s' % '-'


def report(rows):
    print('%-16s %-12s %8s %8s %8s %8s %8s' % (
        'row', 'pacing', 'p50', 'p99', 'to-meta', 'tail', 'overhead'))
    floors = {pacing: quantile([s[0] for s in samples], 0.5)
              for name, pacing, samples in rows if name == 'floor'}
    pacings = list(dict.fromkeys(pacing for _, pacing, _ in rows))
    rows = sorted(rows, key=lambda row: pacings.index(row[1]))
    for name, pacing, samples in rows:
        total = [s[0] for s in samples]
        p50 = quantile(total, 0.5)
        tails = [s[2] for s in samples if s[2] is not None]
        floor = floors.get(pacing)
        print('%-16s %-12s %s %s %s %s %s' % (
            name, pacing, _ms(p50), _ms(quantile(total, 0.99)),
            _ms(quantile([s[1] for s in samples], 0.5)),
            _ms(quantile(tails, 0.5) if tails else None),
            _ms(p50 - floor if floor is not None and name != 'floor'
                else None)))
    print('(milliseconds; to-meta and tail are p50s; overhead = p50 - '
          'floor p50)')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--calls', type=int, default=500,
                        help='timed calls per row and pacing (default: '
                             '%(default)s)')
    parser.add_argument('--warmup', type=int, default=50,
                        help='untimed calls first (default: %(default)s)')
    parser.add_argument('--client', choices=('auto', 'gateway', 'raw'),
                        default='auto')
    parser.add_argument('--gap-ms', type=float, default=5.0,
                        help='pause between two paced calls (default: '
                             '%(default)s)')
    parser.add_argument('--spares', type=int, action='append', default=[],
                        metavar='N', help='add a row with --spares N')
    parser.add_argument('--sandbox', default=SANDBOX, metavar='DIR',
                        help='directory holding the storlets_agent package '
                             'to measure (default: this tree\'s)')
    parser.add_argument('--no-floor', action='store_true',
                        help='skip the in-process floor rows')
    args = parser.parse_args(argv)
    client = args.client
    if client == 'auto':
        client = 'gateway' if importlib.util.find_spec('eventlet') else 'raw'
    call = gateway_call if client == 'gateway' else raw_call
    sandbox = os.path.abspath(args.sandbox)
    spares = agent_knows_spares(sandbox)
    print('agent bench: %s; %d warm calls of %d B per row and pacing '
          '(+%d warm-up); client=%s; python %s; %d cpus%s' % (
              sandbox, args.calls, SIZE, args.warmup, client,
              sys.version.split()[0], os.cpu_count(), '' if spares else
              '; this agent has no --spares: its spares rows run it as is'))
    configs = [('spares=0', ['--spares', '0']), ('spares=default', [])]
    configs += [('spares=%d' % n, ['--spares', str(n)]) for n in args.spares]
    pacings = [('back-to-back', 0.0), ('paced %gms' % args.gap_ms,
                                       args.gap_ms / 1000.0)]
    base = tempfile.mkdtemp(prefix='agent-bench-')
    rows = []
    try:
        storlet_dir = os.path.join(base, 'lib')
        os.makedirs(storlet_dir)
        shutil.copy(IDENTITY, os.path.join(storlet_dir, 'identity.py'))
        data_path = os.path.join(base, 'object')
        with open(data_path, 'wb') as f:
            f.write(os.urandom(SIZE))
        log_path = os.path.join(base, 'storlet.log')
        if not args.no_floor:
            floor_sock = os.path.join(base, 'floor.sock')
            pid = serve_in_process(floor_sock, storlet_dir)
            try:
                for pacing, gap in pacings:
                    rows.append(('floor', pacing, measure(
                        call, floor_sock, data_path, log_path, args.calls,
                        args.warmup, gap)))
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        for name, options in configs:
            agent_base = os.path.join(base, name)
            os.makedirs(agent_base)
            agent = Agent(agent_base, sandbox, storlet_dir,
                          options if spares else [])
            try:
                for pacing, gap in pacings:
                    rows.append((name, pacing, measure(
                        call, agent.socket, data_path, log_path, args.calls,
                        args.warmup, gap)))
            finally:
                agent.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
