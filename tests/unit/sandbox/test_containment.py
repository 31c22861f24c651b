"""Hostile storlets: the agent contains them (real processes, no mocks).

Nothing a call starts outlives it, a fork bomb ends with an error, the
worker is the OOM killer's first choice, every misbehaviour gets a clear
reply, an idle factory exits, logs and files are capped.
"""
import json
import os
import threading
import time

import pytest

from storlets.sbus import channel
from tests.unit.sandbox.agentlib import (
    is_alive, oom_score_adj, proc_exists, read_line, read_until_eof, rlimits,
    wait_for, wait_gone)

MIB = 1024 * 1024
KILLED = {'ok': False,
          'error': 'Storlet process killed by signal 9 (out of memory?)'}
CANNOT_FORK = ('Cannot start the storlet process: BlockingIOError: '
               '[Errno 11] Resource temporarily unavailable')


def pids_line(out_r):
    return [int(pid) for pid in read_line(out_r).split()]


def ping(sock):
    return channel.call(sock, {'cmd': 'ping'}, timeout=5) == {'ok': True}


def finish(conn, meta_r, out_r, timeout=10):
    """Read a call started with send_execute to its end; return the reply."""
    deadline = time.monotonic() + timeout
    read_until_eof([meta_r, out_r], deadline)
    with conn:
        reply, _ = channel.recv_message(conn, deadline)
    return reply


def only_factory_and_daemons(agent):
    """Nothing else, but for the daemons' idle spares (see agentlib)."""
    return sorted(agent.processes(spares=False)) == sorted(
        [agent.proc.pid] + [d['pid'] for d in agent.status().values()])


# -- 1. nothing outlives its call ---------------------------------------------

@pytest.mark.parametrize('then, reply', [
    ('return', {'ok': True}),
    ('raise', {'ok': False, 'error': 'RuntimeError: escaped'}),
])
def test_escaped_processes_die_with_the_call(agent, then, reply):
    daemon_sock = agent.started('hostile.Escape')
    conn, meta_r, out_r = agent.send_execute(daemon_sock,
                                             params={'then': then})
    sleeper, grandchild = pids_line(out_r)
    # The reply comes once they are gone: killed and reaped, not zombies.
    assert finish(conn, meta_r, out_r) == reply
    assert not proc_exists(sleeper) and not proc_exists(grandchild)
    assert only_factory_and_daemons(agent)
    assert agent.execute(daemon_sock, params={'then': 'return'}).reply == {
        'ok': True}


def test_cancelled_call_leaves_nothing(agent, tmp_path):
    daemon_sock = agent.started('hostile.Escape')
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'then': 'hold'})
    sleeper, grandchild = pids_line(out_r)
    assert is_alive(sleeper) and is_alive(grandchild)
    conn.close()  # the gateway gives up
    assert wait_gone(sleeper) and wait_gone(grandchild)
    assert read_until_eof([meta_r, out_r], time.monotonic() + 5)
    assert wait_for(lambda: only_factory_and_daemons(agent))
    assert ping(daemon_sock)


def test_concurrent_calls_keep_their_processes(agent, tmp_path):
    """Ending (or losing the supervisor of) one call kills only its own."""
    daemon_sock = agent.started('hostile.Escape')
    release = tmp_path / 'release'
    held = agent.send_execute(daemon_sock, params={
        'then': 'hold', 'release': str(release)})
    held_pids = pids_line(held[2])

    conn, meta_r, out_r = agent.send_execute(daemon_sock)
    done_pids = pids_line(out_r)
    assert finish(conn, meta_r, out_r) == {'ok': True}
    assert not any(map(proc_exists, done_pids))
    assert all(map(is_alive, held_pids))

    # This storlet SIGKILLs its supervisor: its processes come to the
    # daemon, which kills them, and only them.
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'then': 'kill-supervisor'})
    orphan_pids = pids_line(out_r)
    assert finish(conn, meta_r, out_r) == KILLED
    assert not any(map(proc_exists, orphan_pids))
    assert all(map(is_alive, held_pids))

    release.touch()
    assert finish(*held) == {'ok': True}
    assert not any(map(proc_exists, held_pids))
    assert only_factory_and_daemons(agent)


def test_cancel_a_call_that_stops_its_supervisor(agent):
    """A supervisor kept stopped is SIGKILLed; the daemon cleans up."""
    daemon_sock = agent.started('hostile.Escape')
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'then': 'stop-supervisor'})
    pids = pids_line(out_r)
    conn.close()
    assert all(wait_gone(pid) for pid in pids)
    assert wait_for(lambda: only_factory_and_daemons(agent))
    assert read_until_eof([meta_r, out_r], time.monotonic() + 5)
    assert ping(daemon_sock)


def test_killed_daemon_leaves_nothing(agent):
    """Even a daemon's death: the factory kills what it left behind."""
    daemon_sock = agent.started('hostile.Escape', key='k1')
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'then': 'hold'})
    pids = pids_line(out_r)
    os.kill(agent.status()['k1']['pid'], 9)
    assert all(wait_gone(pid) for pid in pids)
    assert wait_for(lambda: agent.processes() == [agent.proc.pid])
    conn.close()
    channel.close_all([meta_r, out_r])
    assert agent.call({'cmd': 'ping'}) == {'ok': True}


# -- 2. fork bombs ------------------------------------------------------------

#: RLIMIT_NPROC of the fork-bomb agents: the factory, a daemon, a
#: supervisor, a worker and the bomb.
BOMB_PROCESSES = 40


def test_fork_bomb_ends_with_an_error(make_agent):
    agent = make_agent(max_processes=BOMB_PROCESSES)
    daemon_sock = agent.started('hostile.ForkBomb', key='bomb')
    result = agent.execute(daemon_sock)
    assert result.reply == {
        'ok': False,
        'error': 'BlockingIOError: [Errno 11] Resource temporarily '
                 'unavailable'}
    assert only_factory_and_daemons(agent)
    assert ping(daemon_sock) and agent.call({'cmd': 'ping'})['ok']
    assert agent.execute(agent.started('teststorlets.Echo'),
                         inputs=[b'ok']).output == b'ok'


def test_saturated_sandbox_keeps_answering(make_agent, tmp_path):
    agent = make_agent(max_processes=BOMB_PROCESSES)
    daemon_sock = agent.started('hostile.Saturate')
    release = os.path.join(agent.base, 'release')
    held = agent.send_execute(daemon_sock, params={'release': release})
    count, errno = read_line(held[2]).split()
    assert int(count) > BOMB_PROCESSES // 2 and errno == '11'
    # No process can be started, yet both answer, and a call gets a reply.
    assert ping(daemon_sock) and agent.call({'cmd': 'ping'})['ok']
    assert agent.execute(daemon_sock).reply == {'ok': False,
                                                'error': CANNOT_FORK}
    open(release, 'w').close()
    assert finish(*held) == {'ok': True}
    assert only_factory_and_daemons(agent)
    assert agent.execute(agent.started('teststorlets.Echo'),
                         inputs=[b'ok']).output == b'ok'


# -- 3. the OOM killer's first choice -----------------------------------------

@pytest.mark.parametrize('unprivileged', [False, True])
def test_worker_is_the_oom_killers_first_choice(make_agent, unprivileged):
    agent = make_agent(unprivileged=unprivileged)
    daemon_sock = agent.started('hostile.Pids', key='k1')
    release = os.path.join(agent.base, 'release')
    held = agent.send_execute(daemon_sock, params={'release': release})
    worker, supervisor = pids_line(held[2])
    default = oom_score_adj(os.getpid())
    assert oom_score_adj(worker) == 1000
    agent_pids = (supervisor, agent.status()['k1']['pid'], agent.proc.pid)
    for pid in agent_pids:
        assert oom_score_adj(pid) == default
    if agent.user is not None:
        # Not dumpable (no ptrace, no /proc/<pid>/mem for storlets): the
        # kernel gives their /proc/<pid>/* to root. The worker's are its.
        assert [os.stat('/proc/%d/environ' % pid).st_uid
                for pid in agent_pids] == [0, 0, 0]
        assert os.stat('/proc/%d/environ' % worker).st_uid == agent.user
    open(release, 'w').close()
    assert finish(*held) == {'ok': True}


# -- 4. misbehaving storlets --------------------------------------------------

@pytest.mark.parametrize('how, reply, output', [
    ('fine', {'ok': True}, b'partial'),
    ('write-after-close',
     {'ok': False, 'error': 'ValueError: I/O operation on closed file'},
     b'partial'),
    ('no-metadata-then-write',
     {'ok': False,
      'error': 'OSError: Body should be sent after metadata is sent'}, b''),
    ('metadata-twice',
     {'ok': False,
      'error': 'OSError: Sending metadata twice is not allowed'}, b'partial'),
    ('sys-exit', {'ok': False, 'error': 'SystemExit: 3'}, b'partial'),
    ('os-exit', {'ok': False, 'error': 'Storlet process exited with code 7'},
     b'partial'),
    ('abort', {'ok': False,
               'error': 'Storlet process killed by signal 6 (Aborted)'},
     b'partial'),
])
def test_misbehaving_storlet_gets_a_clear_reply(agent, how, reply, output):
    daemon_sock = agent.started('hostile.Misbehave')
    result = agent.execute(daemon_sock, params={'how': how})
    assert (result.reply, result.output) == (reply, output)
    # The daemon serves the next call.
    result = agent.execute(daemon_sock)
    assert (result.reply, result.output) == ({'ok': True}, b'partial')


def test_closing_the_output_early_ends_it_at_once(agent, tmp_path):
    daemon_sock = agent.started('hostile.Misbehave')
    release = tmp_path / 'release'
    conn, meta_r, out_r = agent.send_execute(
        daemon_sock, params={'how': 'close-early', 'release': str(release)})
    # The output ends while the storlet still runs.
    data = read_until_eof([meta_r, out_r], time.monotonic() + 5)
    assert data[out_r] == b'partial'
    assert json.loads(data[meta_r]) == {'how': 'close-early'}
    release.touch()
    with conn:
        assert channel.recv_message(conn, channel.deadline_after(5))[0] == {
            'ok': True}
    assert 'still running after close' in open(agent.log_path).read()


def test_storlet_raising_in_init(agent):
    daemon_sock = agent.started('hostile.InitRaises')
    result = agent.execute(daemon_sock)
    assert result.reply == {'ok': False, 'error': 'ValueError: bad init'}
    assert 'Storlet failed: ValueError: bad init' in result.log
    assert ping(daemon_sock)
    assert agent.execute(daemon_sock).reply == result.reply


def test_storlet_with_a_syntax_error(agent):
    reply, _ = agent.start('syntaxerr.Oops')
    assert reply['ok'] is False
    assert reply['error'].startswith(
        'Failed to load storlet syntaxerr.Oops: SyntaxError: ')
    assert 'syntaxerr.py, line 1' in reply['error']
    assert agent.call({'cmd': 'ping'}) == {'ok': True}
    assert agent.status() == {}


# -- 5. the idle factory exits ------------------------------------------------

def test_idle_factory_exits(make_agent, tmp_path):
    agent = make_agent('--idle-timeout', '1')
    # Requests keep it up.
    for _ in range(4):
        time.sleep(0.3)
        assert agent.call({'cmd': 'ping'}) == {'ok': True}
    # So does a daemon serving a call longer than the timeout.
    daemon_sock = agent.started('teststorlets.WaitFor', key='k1')
    release = tmp_path / 'release'
    held = agent.send_execute(daemon_sock, params={'release': str(release)})
    assert read_line(held[2]) == 'started'
    time.sleep(1.3)
    assert agent.proc.poll() is None and list(agent.status()) == ['k1']
    release.touch()
    assert finish(*held) == {'ok': True}
    # Then the daemon idles out, then the factory.
    began = time.monotonic()
    assert agent.proc.wait(5) == 0
    assert 1.9 < time.monotonic() - began < 4
    assert agent.processes() == []
    assert os.listdir(agent.run_dir) == []


# -- 6. log flooding ----------------------------------------------------------

def test_log_is_capped(agent):
    result = agent.execute(agent.started('hostile.LogFlood'))
    assert (result.reply, result.output) == ({'ok': True}, b'done')
    size = os.path.getsize(agent.log_path)
    marker = 'hostile.LogFlood WARN: ... log truncated\n'
    assert 1 * MIB < size <= 1 * MIB + 1 + len(marker)
    lines = result.log.splitlines(True)
    assert lines[0] == 'printed line\n'
    assert lines[1].startswith('hostile.LogFlood INFO: xxx')
    assert lines[-1] == marker
    assert result.log.count('log truncated') == 1


def test_log_cap_is_per_call(make_agent):
    agent = make_agent('--max-log-size', '100')
    daemon_sock = agent.started('teststorlets.Boom')
    marker = 'teststorlets.Boom WARN: ... log truncated\n'
    for _ in range(2):
        agent.truncate_log()
        result = agent.execute(daemon_sock)
        assert result.log.startswith(
            'teststorlets.Boom INFO: about to fail\n'
            'teststorlets.Boom ERROR: Storlet failed: ValueError: boom\n')
        # Cut inside a line: the marker still gets a line of its own.
        assert result.log.endswith('\n' + marker)
        assert len(result.log) == 100 + 1 + len(marker)


# -- 7. resource limits of the worker -----------------------------------------

def test_output_is_not_limited_by_the_file_size_cap(agent):
    daemon_sock = agent.started('hostile.BigOutput')
    result = agent.execute(daemon_sock, params={'mib': '200'}, keep=16,
                           timeout=30)
    assert result.reply == {'ok': True}
    assert result.output == (200 * MIB, b'z' * 16)
    assert json.loads(result.metadata) == {
        'fsize': str((64 * MIB, 64 * MIB)), 'core': '(0, 0)'}


def test_files_are_capped(make_agent, tmp_path):
    agent = make_agent('--max-file-size', str(MIB))
    daemon_sock = agent.started('hostile.BigOutput')
    big = tmp_path / 'big'
    result = agent.execute(daemon_sock, params={
        'mib': '2', 'file': str(big), 'file_mib': '2'}, keep=0)
    assert result.reply == {'ok': False,
                            'error': 'OSError: [Errno 27] File too large'}
    assert result.output[0] == 2 * MIB
    assert big.stat().st_size == MIB


def test_worker_limits_in_proc(agent, tmp_path):
    daemon_sock = agent.started('hostile.Pids', key='k1')
    release = tmp_path / 'release'
    held = agent.send_execute(daemon_sock, params={'release': str(release)})
    worker, supervisor = pids_line(held[2])
    limits = rlimits(worker)
    assert limits['Max core file size'] == ('0', '0')
    assert limits['Max file size'] == (str(64 * MIB), str(64 * MIB))
    # The agent's own processes are not limited.
    for pid in (supervisor, agent.status()['k1']['pid']):
        assert rlimits(pid)['Max file size'] == rlimits(os.getpid())[
            'Max file size']
    release.touch()
    assert finish(*held) == {'ok': True}


def test_concurrent_bombs_do_not_hang(make_agent):
    """Several fork bombs at once still all end with a reply."""
    agent = make_agent(max_processes=BOMB_PROCESSES)
    daemon_sock = agent.started('hostile.ForkBomb')
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(
        agent.execute(daemon_sock, timeout=20).reply)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(25)
    assert len(replies) == 3
    assert all(reply['ok'] is False for reply in replies)
    assert only_factory_and_daemons(agent)
