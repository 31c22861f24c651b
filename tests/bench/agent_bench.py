"""Sandbox agent latency: warm 1 KiB identity calls, spares off vs on.

No Swift, no docker: it starts ``python -m storlets_agent factory`` on a
temporary runtime directory (as tests/unit/sandbox does), starts a daemon
for the 64 KiB-block identity storlet (tests/functional/storlets/identity.py)
and times N warm calls of 1 KiB through real pipes, one after the other::

    python -m tests.bench.agent_bench                  # 500 calls per row
    python -m tests.bench.agent_bench --calls 2000 --client raw

Rows, all measured in this run (the machine is noisy: compare rows, not
runs):

``floor``
    The same client against a stand-in daemon that runs the identity
    storlet in its own process, with no fork at all: the cost of the
    protocol, the pipes and the storlet itself. ``overhead`` in the other
    rows is their p50 minus this row's p50: what the agent's processes
    cost.
``spares=0``
    The agent as started with ``--spares 0``: a supervisor and a worker
    forked for each call.
``spares=default``
    The agent with its default options.

Columns (milliseconds): ``total`` from sending EXECUTE to the daemon's
verdict; ``to-meta`` until the storlet's metadata has arrived; ``tail``
from the output's end of file to the verdict (``raw`` client only: the
gateway's OutputStream reads both in one step).

``--client gateway`` (the default when eventlet imports) calls
``storlets.gateway.execution.execute`` exactly as the object server does;
``--client raw`` is a minimal blocking client on ``storlets.sbus.channel``.
An agent that does not know ``--spares`` (before warm spares) runs both
agent rows with its only behaviour; the header says so.
"""
import argparse
import os
import select
import shutil
import signal
import socket
import statistics
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
TIMEOUT = 30.0


# -- the agent under test -----------------------------------------------------

class Agent:
    """A factory subprocess on a private runtime dir, and one daemon."""

    def __init__(self, base, storlet_dir, options):
        self.run_dir = os.path.join(base, 'run')
        os.makedirs(self.run_dir)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1',
                   PYTHONPATH=os.pathsep.join([SANDBOX, REPO]))
        self.log = open(os.path.join(base, 'agent.log'), 'wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'storlets_agent', 'factory',
             '--runtime-dir', self.run_dir] + options,
            env=env, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log)
        factory = os.path.join(self.run_dir, 'factory.sock')
        deadline = time.monotonic() + 10
        while True:
            try:
                channel.call(factory, {'cmd': 'ping'}, timeout=5)
                break
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise RuntimeError('the factory did not start')
                time.sleep(0.01)
        reply = channel.call(factory, {'cmd': 'start_daemon', 'daemon': {
            'key': 'bench', 'name': 'identity', 'language': 'python',
            'main': MAIN, 'path': storlet_dir}}, timeout=30)
        if not reply.get('ok'):
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


def agent_knows_spares():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SANDBOX, REPO]))
    out = subprocess.run(
        [sys.executable, '-m', 'storlets_agent', 'factory', '--help'],
        env=env, capture_output=True, text=True).stdout
    return '--spares' in out


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
            message, fds = channel.recv_message(conn)
            log_fd = fds[3]
            in_file = files.StorletInputFile(fds[0], {})
            out_file = files.StorletOutputFile(fds[1], fds[2])
            logger = files.StorletLogger(MAIN, log_fd)
            IdentityStorlet(logger)([in_file], [out_file], {})
            logger.close()
            channel.send_message(conn, {'ok': True})
            conn.close()
    finally:
        os._exit(0)


# -- clients: one call each, returning (total, to-metadata, tail) -------------

def _pipe():
    r, w = os.pipe2(os.O_CLOEXEC)
    return r, w


def raw_call(daemon_socket, data_path, log_fd):
    """A blocking client with channel: EXECUTE, metadata, output, verdict."""
    in_fd = os.open(data_path, os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = _pipe()
    md_r, md_w = _pipe()
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
        reply, fds = channel.recv_message(conn, time.monotonic() + TIMEOUT)
        done = time.perf_counter()
    finally:
        conn.close()
        channel.close_all([md_r, out_r])
    if not reply.get('ok') or metadata != b'{}' or len(output) != 1024:
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
    if size != 1024:
        raise RuntimeError('bad call: %d bytes' % size)
    return done - began, to_meta - began, None


# -- running and reporting ------------------------------------------------------

def measure(call, daemon_socket, data_path, log_path, calls, warmup):
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(warmup):
            call(daemon_socket, data_path, log_fd)
        samples = []
        for _ in range(calls):
            samples.append(call(daemon_socket, data_path, log_fd))
            os.ftruncate(log_fd, 0)
    finally:
        os.close(log_fd)
    return samples


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(seconds):
    return '%7.2f' % (seconds * 1000)


def report(rows):
    print('%-16s %8s %8s %8s %8s %8s' % ('row', 'p50', 'p99', 'to-meta',
                                          'tail', 'overhead'))
    floor = None
    for name, samples in rows:
        total = [s[0] for s in samples]
        p50 = quantile(total, 0.5)
        if floor is None and name == 'floor':
            floor = p50
        tails = [s[2] for s in samples if s[2] is not None]
        print('%-16s %s %s %s %s %s' % (
            name, ms(p50), ms(quantile(total, 0.99)),
            ms(quantile([s[1] for s in samples], 0.5)),
            ms(quantile(tails, 0.5)) if tails else '%7s' % '-',
            ms(p50 - floor) if floor is not None and name != 'floor'
            else '%7s' % '-'))
    print('(milliseconds; p50 unless said; overhead = p50 - floor p50)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--calls', type=int, default=500)
    parser.add_argument('--warmup', type=int, default=50)
    parser.add_argument('--client', choices=('auto', 'gateway', 'raw'),
                        default='auto')
    parser.add_argument('--no-floor', action='store_true',
                        help='skip the in-process floor row')
    args = parser.parse_args(argv)
    client = args.client
    if client == 'auto':
        try:
            import eventlet  # noqa: F401
            client = 'gateway'
        except ImportError:
            client = 'raw'
    call = gateway_call if client == 'gateway' else raw_call
    spares = agent_knows_spares()
    print('agent bench: %d warm calls of 1 KiB per row (+%d warm-up), '
          'client=%s, python %s, %d cpus%s' % (
              args.calls, args.warmup, client, sys.version.split()[0],
              os.cpu_count(), '' if spares else
              '; this agent has no --spares: both agent rows run it as is'))
    base = tempfile.mkdtemp(prefix='agent-bench-')
    rows = []
    try:
        storlet_dir = os.path.join(base, 'lib')
        os.makedirs(storlet_dir)
        shutil.copy(IDENTITY, os.path.join(storlet_dir, 'identity.py'))
        data_path = os.path.join(base, 'object')
        with open(data_path, 'wb') as f:
            f.write(os.urandom(1024))
        log_path = os.path.join(base, 'storlet.log')
        if not args.no_floor:
            floor_sock = os.path.join(base, 'floor.sock')
            pid = serve_in_process(floor_sock, storlet_dir)
            try:
                rows.append(('floor', measure(call, floor_sock, data_path,
                                              log_path, args.calls,
                                              args.warmup)))
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        for name, options in (('spares=0', ['--spares', '0']),
                              ('spares=default', [])):
            agent_base = os.path.join(base, name)
            os.makedirs(agent_base)
            agent = Agent(agent_base, storlet_dir,
                          options if spares else [])
            try:
                rows.append((name, measure(call, agent.socket, data_path,
                                           log_path, args.calls,
                                           args.warmup)))
            finally:
                agent.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
