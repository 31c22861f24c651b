"""The agent end to end: a real factory process, real forks, pipes, sockets.

See agentlib for the harness; test_containment.py has the hostile storlets.
"""
import json
import os
import socket
import sys
import threading
import time

import pytest

from storlets.sbus import channel, protocol
from tests.unit.sandbox.agentlib import (
    SLOW_IMPORT, is_alive, read_until_eof, wait_for, wait_gone)


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
    # Its only socket: the one to its supervisor (to serve again).
    sockets = [t.split()[1:] for t in targets.values()
               if t.startswith('socket:')]
    assert len(sockets) == 1 and sockets[0][0][len('peer='):] == \
        sockets[0][1][len('parent='):], targets
    # stdin/out/err, the four invocation fds, its log and error pipes,
    # that socket.
    assert len(targets) == 3 + 4 + 2 + 1, targets
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
    ({'language': 'ruby'}, 'Unsupported language: ruby'),
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


def test_a_version_still_starting_serves_its_calls(agent):
    """A re-upload racing calls: the old version's daemon is still importing
    when the new one is ready; the calls waiting for the old one get it."""
    agent.write_storlet('slowimport.py', 'import time\ntime.sleep(1.0)\n\n'
                        'class S(object):\n'
                        '    def __init__(self, logger):\n        pass\n\n'
                        '    def __call__(self, i, o, p):\n'
                        '        o[0].set_metadata({})\n'
                        '        o[0].write(b"old")\n        o[0].close()\n')
    replies = []
    slow = threading.Thread(target=lambda: replies.append(
        agent.start('slowimport.S', name='w', key='kold')[0]))
    slow.start()
    time.sleep(0.3)     # kold is importing (1 s)
    agent.started('teststorlets.Echo', name='w', key='knew')
    assert slow.is_alive()      # knew was ready first
    slow.join(10)
    assert replies and replies[0]['ok'], replies
    old = os.path.join(agent.run_dir, replies[0]['socket'])
    assert agent.execute(old).output == b'old'


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
    agent = make_agent('--daemon-idle-timeout', '0.3')
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    pid = agent.status()['k1']['pid']
    assert wait_gone(pid)
    assert wait_for(lambda: agent.status() == {})
    assert not os.path.exists(daemon_sock)
    assert agent.execute(agent.started('teststorlets.Echo', key='k1')).reply[
        'ok']


def test_claim_sets_the_factorys_idle_timeout(make_agent):
    # a spare sandbox waits long; once an account claims it, it idles out
    # as that account's sandbox would
    agent = make_agent('--idle-timeout', '600')
    for bad in (0, -1, 'soon', True, None):
        reply = agent.call({'cmd': 'claim', 'idle_timeout': bad})
        assert not reply['ok'] and 'idle_timeout' in reply['error'], bad
    assert agent.call({'cmd': 'claim', 'idle_timeout': 0.3}) == {'ok': True}
    assert agent.proc.wait(timeout=5) == 0


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
    # The factory and two daemons (and their idle spares).
    assert len(agent.processes(spares=False)) == 3
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
