"""The agent end to end: a real factory process, real forks, pipes, sockets.

Each test starts ``python3 -m storlets_agent factory`` in a temporary
runtime directory, writes small storlets next to it, and talks to it with
``storlets.sbus.channel`` exactly as the gateway does. Every process the
agent starts carries a marker in its environment, so a test can list them
(and the fixture kills any that survive).
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

import pytest

from storlets.sbus import channel, protocol

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                    '..', '..', '..'))

STORLETS = textwrap.dedent('''
    import json, os, signal, subprocess, time

    class Echo:
        """Main input's metadata plus a count; output: every input in turn."""
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            self.logger.info('echo %d inputs' % len(in_files))
            metadata = in_files[0].get_metadata()
            metadata['inputs'] = len(in_files)
            out_files[0].set_metadata(metadata)
            for in_file in in_files:
                for chunk in in_file:
                    out_files[0].write(chunk)
            out_files[0].close()

    class Params:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            out_files[0].write(json.dumps(params))

    class Fds:
        """Output: {fd: what it is} for every descriptor of the worker.

        With params['release'], first waits for that file to exist.
        """
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            if 'release' in params:
                WaitFor(None)(in_files, out_files, params)
                return
            fds = {}
            for name in os.listdir('/proc/self/fd'):
                try:
                    fds[name] = os.readlink('/proc/self/fd/' + name)
                except OSError:  # the directory listing itself
                    pass
            out_files[0].set_metadata({})
            out_files[0].write(json.dumps(fds))

    class Boom:
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            self.logger.info('about to fail')
            raise ValueError('boom')

    class Silent:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            pass

    class Suicide:
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            os.kill(os.getpid(), signal.SIGKILL)

    class Hang:
        """Spawns a child, reports both pids, then never ends."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            child = subprocess.Popen(['/bin/sleep', '60'])
            out_files[0].set_metadata({})
            out_files[0].write('%d %d\\n' % (os.getpid(), child.pid))
            time.sleep(60)

    class WaitFor:
        """Writes "started", waits for the file params['release'], ends."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            out_files[0].set_metadata({})
            out_files[0].write(b'started\\n')
            deadline = time.monotonic() + 10
            while not os.path.exists(params['release']):
                assert time.monotonic() < deadline, 'never released'
                time.sleep(0.01)
            out_files[0].write(b'done')

    class Rendezvous:
        """Succeeds only if params['count'] calls run at the same time."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            meeting = params['dir']
            open(os.path.join(meeting, str(os.getpid())), 'w').close()
            deadline = time.monotonic() + 5
            while len(os.listdir(meeting)) < int(params['count']):
                assert time.monotonic() < deadline, 'alone'
                time.sleep(0.01)
            out_files[0].set_metadata({})
''')

BROKEN = 'import no_such_module_xyz\n'

SLOW_IMPORT = textwrap.dedent('''
    import os, time
    deadline = time.monotonic() + float(os.environ.get('SLOW_FOR', '10'))
    while time.monotonic() < deadline and not os.path.exists(
            os.path.join(os.path.dirname(__file__), 'release')):
        time.sleep(0.01)
    class Slow:
        def __init__(self, logger):
            pass
''')


def is_alive(pid):
    """True for a running process (zombies count as gone)."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            state = stat.read().rpartition(')')[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ('Z', 'X')


def wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def read_until_eof(fds, deadline):
    """Read every fd to EOF at once; return {fd: bytes}. Closes them."""
    data = {fd: b'' for fd in fds}
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    open_fds = set(fds)
    while open_fds:
        remaining = deadline - time.monotonic()
        assert remaining > 0, 'storlet output did not end'
        for fd, _ in poller.poll(remaining * 1000):
            chunk = os.read(fd, 65536)
            if chunk:
                data[fd] += chunk
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)
    return data


class Result:
    def __init__(self, reply, metadata, output, log):
        self.reply = reply
        self.metadata = metadata
        self.output = output
        self.log = log


class Agent:
    """One factory process and its directories."""

    def __init__(self, base, *args):
        self.base = base
        # AF_UNIX paths are limited to 107 bytes.
        run = os.path.join(base, 'run')
        self.run_dir = run if len(run) < 70 else tempfile.mkdtemp(prefix='sa-')
        os.makedirs(self.run_dir, exist_ok=True)
        self.storlet_dir = os.path.join(base, 'lib', 'test')
        os.makedirs(self.storlet_dir)
        self.write_storlet('teststorlets.py', STORLETS)
        self.write_storlet('broken.py', BROKEN)
        self.log_path = os.path.join(base, 'storlet.log')
        self.mark = uuid.uuid4().hex
        env = dict(os.environ, STORLETS_TEST_MARK=self.mark,
                   PYTHONDONTWRITEBYTECODE='1',
                   PYTHONPATH=os.pathsep.join(
                       [os.path.join(REPO, 'sandbox'), REPO]))
        self.agent_log = open(os.path.join(base, 'agent.log'), 'wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'storlets_agent', 'factory',
             '--runtime-dir', self.run_dir] + list(args),
            env=env, stdin=subprocess.DEVNULL, stdout=self.agent_log,
            stderr=self.agent_log)
        self.factory_sock = os.path.join(self.run_dir, 'factory.sock')
        deadline = time.monotonic() + 10
        while True:
            try:
                assert self.call({'cmd': 'ping'}) == {'ok': True}
                break
            except OSError:
                assert self.proc.poll() is None, self.agent_output()
                assert time.monotonic() < deadline, 'factory did not start'
                time.sleep(0.01)

    def write_storlet(self, filename, source):
        with open(os.path.join(self.storlet_dir, filename), 'w') as f:
            f.write(source)

    def agent_output(self):
        with open(os.path.join(self.base, 'agent.log')) as f:
            return f.read()

    def call(self, message, timeout=10):
        return channel.call(self.factory_sock, message, timeout=timeout)

    def start(self, main, key=None, name=None, **fields):
        """start_daemon; returns (reply, key)."""
        key = key or uuid.uuid4().hex[:12]
        daemon = {'key': key, 'name': name or main, 'language': 'python',
                  'language_version': '3', 'main': main,
                  'path': self.storlet_dir}
        daemon.update(fields)
        return self.call({'cmd': 'start_daemon', 'daemon': daemon}), key

    def started(self, main, **kwargs):
        """start_daemon that must succeed; returns the daemon socket path."""
        reply, _ = self.start(main, **kwargs)
        assert reply['ok'], reply
        return os.path.join(self.run_dir, reply['socket'])

    def status(self):
        reply = self.call({'cmd': 'status'})
        assert reply['ok']
        return reply['daemons']

    def send_execute(self, daemon_sock, params=None, inputs=(b'',),
                     descriptions=None):
        """Send execute; return (connection, metadata fd, output fd).

        ``inputs``: bytes (fed through a pipe) or a path (opened).
        """
        fds = []
        for source in inputs:
            if isinstance(source, bytes):
                read_fd, write_fd = os.pipe()
                threading.Thread(target=self._feed, args=(write_fd, source),
                                 daemon=True).start()
                fds.append(read_fd)
            else:
                fds.append(os.open(source, os.O_RDONLY))
        out_r, out_w = os.pipe()
        meta_r, meta_w = os.pipe()
        log_fd = os.open(self.log_path,
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        sent = [fds[0], out_w, meta_w, log_fd] + fds[1:]
        message = {
            'cmd': 'execute', 'params': params or {},
            'inputs': descriptions or [
                {'metadata': {}, 'start': None, 'end': None} for _ in fds],
            'fds': ['input', 'output', 'metadata', 'log']
            + ['input'] * (len(fds) - 1)}
        conn = channel.connect(daemon_sock)
        try:
            channel.send_message(conn, message, sent)
        finally:
            channel.close_all(sent)  # the sandbox has its own copies now
        return conn, meta_r, out_r

    @staticmethod
    def _feed(fd, data):
        try:
            with open(fd, 'wb') as pipe:
                pipe.write(data)
        except BrokenPipeError:
            pass

    def execute(self, daemon_sock, timeout=10, **kwargs):
        """Run one call to its end; return a Result."""
        deadline = time.monotonic() + timeout
        conn, meta_r, out_r = self.send_execute(daemon_sock, **kwargs)
        with conn:
            data = read_until_eof([meta_r, out_r], deadline)
            reply, fds = channel.recv_message(conn, deadline)
        assert fds == []
        with open(self.log_path) as log:
            return Result(reply, data[meta_r], data[out_r], log.read())

    def processes(self):
        """Live processes started by this agent, the factory included."""
        needle = ('STORLETS_TEST_MARK=%s' % self.mark).encode()
        pids = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/environ' % entry, 'rb') as f:
                    environ = f.read().split(b'\0')
            except OSError:
                continue
            if needle in environ and is_alive(int(entry)):
                pids.append(int(entry))
        return pids

    def terminate(self, timeout=10):
        """SIGTERM the factory and wait; return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def cleanup(self):
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            pass
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.agent_log.close()
        if not self.run_dir.startswith(self.base):
            shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture
def make_agent(tmp_path):
    agents = []

    def make(*args):
        agents.append(Agent(str(tmp_path / ('a%d' % len(agents))), *args))
        return agents[-1]

    yield make
    for agent in agents:
        agent.cleanup()


@pytest.fixture
def agent(make_agent):
    return make_agent()


# -- factory basics ---------------------------------------------------------

def test_ping_and_empty_status(agent):
    assert agent.call({'cmd': 'ping'}) == {'ok': True}
    assert agent.status() == {}


def test_start_daemon_then_execute(agent):
    reply, key = agent.start('teststorlets.Echo', name='echo')
    assert reply == {'ok': True, 'socket': 'd-%s.sock' % key}
    (pid,) = [d['pid'] for d in agent.status().values()]
    assert agent.status() == {key: {'name': 'echo', 'pid': pid}}
    # A second start finds the running daemon.
    assert agent.start('teststorlets.Echo', key=key, name='echo')[0] == reply

    result = agent.execute(
        os.path.join(agent.run_dir, reply['socket']),
        inputs=[b'hello\nworld\n'],
        descriptions=[{'metadata': {'Color': 'red'}}])
    assert result.reply == {'ok': True}
    assert json.loads(result.metadata) == {'Color': 'red', 'inputs': '1'}
    assert result.output == b'hello\nworld\n'
    assert result.log == 'teststorlets.Echo INFO: echo 1 inputs\n'
    assert agent.status()[key]['pid'] == pid


def test_daemon_answers_ping(agent):
    daemon_sock = agent.started('teststorlets.Echo')
    assert channel.call(daemon_sock, {'cmd': 'ping'}, timeout=5) == {
        'ok': True}


def test_params_carry_the_execution_path(agent):
    daemon_sock = agent.started('teststorlets.Params')
    result = agent.execute(daemon_sock, params={'a': '1', 'b': 'two'})
    assert result.reply == {'ok': True}
    assert json.loads(result.output) == {
        'a': '1', 'b': 'two', 'storlet_execution_path': agent.storlet_dir}


def test_large_params(agent):
    daemon_sock = agent.started('teststorlets.Params')
    params = {'p%04d' % i: 'v' * 1024 for i in range(1000)}
    result = agent.execute(daemon_sock, params=params)
    assert result.reply == {'ok': True}
    params['storlet_execution_path'] = agent.storlet_dir
    assert json.loads(result.output) == params


def test_ranged_input_and_extra_input(agent, tmp_path):
    obj = tmp_path / 'object'
    obj.write_bytes(b'012\n345\nabcd\nefg\nhi\nj67\n8')
    daemon_sock = agent.started('teststorlets.Echo')
    result = agent.execute(
        daemon_sock, inputs=[str(obj), b'+extra'],
        descriptions=[{'metadata': {'Main': 'yes'}, 'start': 8, 'end': 21},
                      {'metadata': {}, 'start': None, 'end': None}])
    assert result.reply == {'ok': True}
    assert json.loads(result.metadata) == {'Main': 'yes', 'inputs': '2'}
    assert result.output == b'abcd\nefg\nhi\nj+extra'


def test_concurrent_calls(agent, tmp_path):
    daemon_sock = agent.started('teststorlets.Rendezvous')
    meeting = tmp_path / 'meeting'
    meeting.mkdir()
    params = {'dir': str(meeting), 'count': '3'}
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        agent.execute(daemon_sock, params=params).reply)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [{'ok': True}] * 3


def test_worker_holds_only_its_descriptors(agent, tmp_path):
    daemon_sock = agent.started('teststorlets.Fds')
    # The daemon has a call in flight and a connection that sent nothing:
    # neither they nor its listening socket may leak into the next worker.
    release = tmp_path / 'release'
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'release': str(release)})
    assert os.read(out_r, 100) == b'started\n'
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(daemon_sock)
        result = agent.execute(daemon_sock)
    targets = json.loads(result.output)
    assert not [t for t in targets.values() if t.startswith('socket:')]
    # stdin/out/err, the four invocation fds and the error pipe.
    assert len(targets) == 3 + 4 + 1, targets
    release.touch()
    read_until_eof([meta_r, out_r], time.monotonic() + 5)
    with conn:
        assert channel.recv_message(conn, channel.deadline_after(5))[0] == {
            'ok': True}


# -- storlet failures --------------------------------------------------------

def test_storlet_exception(agent):
    daemon_sock = agent.started('teststorlets.Boom')
    result = agent.execute(daemon_sock)
    assert result.reply == {'ok': False, 'error': 'ValueError: boom'}
    assert result.metadata == b'' and result.output == b''
    lines = result.log.splitlines()
    assert lines[:3] == [
        'teststorlets.Boom INFO: about to fail',
        'teststorlets.Boom ERROR: Storlet failed: ValueError: boom',
        'teststorlets.Boom ERROR: Traceback (most recent call last):']
    assert "raise ValueError('boom')" in result.log
    assert lines[-1] == 'teststorlets.Boom ERROR: ValueError: boom'
    # The daemon lives on.
    assert channel.call(daemon_sock, {'cmd': 'ping'}, timeout=5)['ok']


def test_storlet_without_metadata(agent):
    result = agent.execute(agent.started('teststorlets.Silent'))
    error = 'Storlet returned without setting the output metadata'
    assert result.reply == {'ok': False, 'error': error}
    assert result.log == 'teststorlets.Silent ERROR: %s\n' % error


def test_storlet_killed_by_a_signal(agent):
    result = agent.execute(agent.started('teststorlets.Suicide'))
    assert result.reply == {
        'ok': False,
        'error': 'Storlet process killed by signal 9 (out of memory?)'}


def test_gateway_hangup_kills_the_worker_group(agent):
    daemon_sock = agent.started('teststorlets.Hang')
    conn, meta_r, out_r = agent.send_execute(daemon_sock)
    assert os.read(meta_r, 100) == b'{}'
    line = b''
    while not line.endswith(b'\n'):
        line += os.read(out_r, 100)
    worker, child = map(int, line.split())
    assert is_alive(worker) and is_alive(child)
    conn.close()
    assert wait_gone(worker) and wait_gone(child)
    # Nobody holds the output pipe any more.
    assert read_until_eof([meta_r, out_r], time.monotonic() + 5)
    assert channel.call(daemon_sock, {'cmd': 'ping'}, timeout=5)['ok']


def test_malformed_execute(agent):
    daemon_sock = agent.started('teststorlets.Echo')
    read_fd, write_fd = os.pipe()
    reply = channel.call(daemon_sock, {'cmd': 'execute', 'fds': ['output']},
                         [write_fd], timeout=5)
    assert reply['ok'] is False
    assert reply['error'].startswith('execute needs descriptors')
    os.close(write_fd)
    assert os.read(read_fd, 10) == b''  # the daemon closed its copy
    os.close(read_fd)
    assert channel.call(daemon_sock, {'cmd': 'dance'}, timeout=5) == {
        'ok': False, 'error': "Unknown command: 'dance'"}


# -- starting and stopping daemons -------------------------------------------

@pytest.mark.parametrize('main, error', [
    ('broken.Broken', "Failed to load storlet broken.Broken: "
                      "ModuleNotFoundError: No module named "
                      "'no_such_module_xyz'"),
    ('teststorlets.Missing', "Failed to load storlet teststorlets.Missing: "
                             "AttributeError: module 'teststorlets' has no "
                             "attribute 'Missing'"),
    ('nodot', "Invalid storlet main 'nodot': expected module.Class"),
])
def test_storlet_that_cannot_load(agent, main, error):
    reply, _ = agent.start(main)
    assert reply == {'ok': False, 'error': error}
    assert agent.call({'cmd': 'ping'}) == {'ok': True}
    assert agent.status() == {}


@pytest.mark.parametrize('fields, error', [
    ({'language': 'java'}, 'Unsupported language: java'),
    ({'language_version': '3.99'},
     'Requested runtime is unavailable: python3.99'),
    ({'language_version': '2.7'},
     'Requested runtime is unavailable: python2.7'),
    ({'key': '../x'}, "Invalid daemon key: '../x'"),
    ({'path': '/nonexistent/dir'}, 'Storlet directory not found: '
                                   '/nonexistent/dir'),
])
def test_start_daemon_refusals(agent, fields, error):
    reply, _ = agent.start('teststorlets.Echo', **fields)
    assert reply == {'ok': False, 'error': error}
    assert agent.call({'cmd': 'ping'}) == {'ok': True}


def test_bad_requests_do_not_hurt_the_factory(agent):
    assert agent.call({'cmd': 'dance'}) == {
        'ok': False, 'error': "Unknown command: 'dance'"}
    assert agent.call({'cmd': 'start_daemon'}) == {
        'ok': False, 'error': '"daemon" must be an object'}
    # Not JSON.
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(agent.factory_sock)
        sock.sendall(protocol.HEADER.pack(5) + b'nope!')
        sock.setblocking(False)
        reply, _ = channel.recv_message(sock, channel.deadline_after(5))
    assert reply['ok'] is False and reply['error'].startswith('Bad request')
    # Connect and leave.
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(agent.factory_sock)
    assert agent.call({'cmd': 'ping'}) == {'ok': True}


def test_slow_import_does_not_block_ping(agent):
    agent.write_storlet('slow.py', SLOW_IMPORT)
    replies = []
    starter = threading.Thread(target=lambda: replies.append(
        agent.start('slow.Slow')[0]))
    starter.start()
    for _ in range(5):
        began = time.monotonic()
        assert agent.call({'cmd': 'ping'}, timeout=2) == {'ok': True}
        assert time.monotonic() - began < 1
    assert replies == []  # still importing
    open(os.path.join(agent.storlet_dir, 'release'), 'w').close()
    starter.join(10)
    assert replies[0]['ok'] is True


def test_start_timeout(make_agent):
    agent = make_agent('--start-timeout', '0.3')
    agent.write_storlet('slow.py', SLOW_IMPORT)
    reply, _ = agent.start('slow.Slow')
    assert reply == {'ok': False, 'error': 'Storlet daemon for slow.Slow '
                                           'did not start within 0.3 s'}
    # The daemon stuck in its import was killed.
    assert wait_for(lambda: agent.processes() == [agent.proc.pid])


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_new_key_stops_the_old_daemon(agent):
    old_sock = agent.started('teststorlets.Echo', name='echo', key='k1')
    old_pid = agent.status()['k1']['pid']
    agent.started('teststorlets.Params', name='echo', key='k2')
    assert list(agent.status()) == ['k2']
    assert wait_gone(old_pid)
    assert not os.path.exists(old_sock)
    # Another storlet's daemon is left alone.
    agent.started('teststorlets.Echo', name='other', key='k3')
    agent.started('teststorlets.Echo', name='echo', key='k4')
    assert sorted(agent.status()) == ['k3', 'k4']


def test_replaced_daemon_finishes_its_calls(agent, tmp_path):
    old_sock = agent.started('teststorlets.WaitFor', name='w', key='k1')
    old_pid = agent.status()['k1']['pid']
    release = tmp_path / 'release'
    conn, meta_r, out_r = agent.send_execute(
        old_sock, params={'release': str(release)})
    assert os.read(out_r, 100) == b'started\n'
    agent.started('teststorlets.WaitFor', name='w', key='k2')
    assert is_alive(old_pid)
    release.touch()
    deadline = time.monotonic() + 5
    data = read_until_eof([meta_r, out_r], deadline)
    assert data[out_r] == b'done'
    with conn:
        assert channel.recv_message(conn, deadline)[0] == {'ok': True}
    assert wait_gone(old_pid)


def test_stop_daemon(agent):
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    pid = agent.status()['k1']['pid']
    assert agent.call({'cmd': 'stop_daemon', 'key': 'k1'}) == {'ok': True}
    assert agent.status() == {}
    assert not os.path.exists(daemon_sock)
    assert wait_gone(pid)
    assert agent.call({'cmd': 'stop_daemon', 'key': 'k1'}) == {'ok': True}
    # And it can start again.
    assert agent.execute(agent.started('teststorlets.Echo', key='k1')).reply[
        'ok']


def test_idle_daemon_exits_and_restarts(make_agent):
    agent = make_agent('--idle-timeout', '0.3')
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    pid = agent.status()['k1']['pid']
    assert wait_gone(pid)
    assert wait_for(lambda: agent.status() == {})
    assert not os.path.exists(daemon_sock)
    assert agent.execute(agent.started('teststorlets.Echo', key='k1')).reply[
        'ok']


def test_other_python_version_is_execd(make_agent, tmp_path):
    python_dir = tmp_path / 'bin'
    python_dir.mkdir()
    (python_dir / 'python3.98').symlink_to(sys.executable)
    agent = make_agent('--python-dir', str(python_dir))
    daemon_sock = agent.started('teststorlets.Echo', key='k1', name='-x',
                                language_version='3.98')
    pid = agent.status()['k1']['pid']
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = f.read().split(b'\0')
    assert argv[:5] == [str(python_dir / 'python3.98').encode(), b'-B',
                        b'-m', b'storlets_agent', b'daemon']
    result = agent.execute(daemon_sock, inputs=[b'data'])
    assert (result.reply, result.output) == ({'ok': True}, b'data')
    assert agent.start('broken.Broken', language_version='3.98')[0] == {
        'ok': False, 'error': "Failed to load storlet broken.Broken: "
                              "ModuleNotFoundError: No module named "
                              "'no_such_module_xyz'"}


def test_sigterm_leaves_no_process_behind(agent):
    agent.started('teststorlets.Echo', name='a')
    agent.execute(agent.started('teststorlets.Params', name='b'))
    assert len(agent.processes()) == 3  # factory and two daemons
    assert agent.terminate() == 0
    assert agent.processes() == []
    assert os.listdir(agent.run_dir) == []


def test_sigterm_kills_calls_that_outlive_the_grace(make_agent):
    agent = make_agent('--stop-grace', '0.3')
    conn, meta_r, out_r = agent.send_execute(
        agent.started('teststorlets.Hang'))
    assert os.read(meta_r, 100) == b'{}'
    line = b''
    while not line.endswith(b'\n'):
        line += os.read(out_r, 100)
    worker, child = map(int, line.split())
    assert agent.terminate() == 0
    assert agent.processes() == []
    assert not is_alive(worker) and not is_alive(child)
    conn.close()
    channel.close_all([meta_r, out_r])
