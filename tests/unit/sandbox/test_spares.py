"""Warm spares (storlets_agent/spares.py): pairs forked ahead of the calls.

What a spare is before its call (set up, contained, named), that a call
gets a new storlet instance (and, with --calls-per-worker 1, a new
process), when a worker serves calls in turn and when it may not, how many
spares there are, and that none outlives its daemon.
"""
import json
import os
import signal
import textwrap
import threading
import time

import pytest

from storlets.sbus import channel
from storlets_agent.daemon import EXTRA_PAIR_IDLE
from tests.unit.sandbox.agentlib import (
    SPARE_NAME, is_alive, parent_of, read_line, read_until_eof, rlimits,
    wait_for, wait_gone)

MIB = 1024 * 1024

SPARE_STORLETS = textwrap.dedent('''
    import os

    CALLS = []  # module state: a call must never see another's

    class Count:
        """Output: {"pid": worker pid, "calls": len(CALLS), "ids": ...}."""
        instances = 0
        def __init__(self, logger):
            Count.instances += 1
        def __call__(self, in_files, out_files, params):
            CALLS.append(params)
            out_files[0].set_metadata({})
            out_files[0].write('{"pid": %d, "calls": %d, "instances": %d}'
                               % (os.getpid(), len(CALLS), Count.instances))

    class Leave:
        """Like Count; params["leave"]: "thread", "process" or "error"
        (what the call leaves behind), "scratch": a file in its scratch
        directory, "hold": wait for the file params["release"]."""
        def __init__(self, logger):
            self.logger = logger
        def __call__(self, in_files, out_files, params):
            import threading, time
            CALLS.append(params)
            leave = params.get('leave')
            self.logger.info('call %d' % len(CALLS))
            out_files[0].set_metadata({})
            out_files[0].write('{"pid": %d, "calls": %d, "cwd": "%s"}'
                               % (os.getpid(), len(CALLS), os.getcwd()))
            if leave == 'thread':
                threading.Thread(target=time.sleep, args=(30,),
                                 daemon=True).start()
            elif leave == 'process':
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
            elif leave == 'scratch':
                with open('left-over', 'w') as f:
                    f.write('x')
            elif leave == 'error':
                raise ValueError('failed on purpose')
            elif leave == 'hold':
                out_files[0].write('\\n')
                while not os.path.exists(params['release']):
                    time.sleep(0.01)
''')


def comm(pid):
    with open('/proc/%d/comm' % pid, 'rb') as f:
        return f.read().rstrip(b'\n')


def spares_of(agent, daemon):
    """{supervisor pid: [worker pids]} of the idle spares of ``daemon``."""
    found = {}
    spares = agent.spares()
    for pid in spares:
        if parent_of(pid) == daemon:
            found.setdefault(pid, [])
    for pid in spares:
        if parent_of(pid) in found:
            found[parent_of(pid)].append(pid)
    return found


def ready_spares(agent, daemon, count=1):
    """Wait for ``count`` spares with their worker; return them."""
    assert wait_for(lambda: sorted(
        len(workers) for workers in spares_of(agent, daemon).values())
        == [1] * count), spares_of(agent, daemon)
    return spares_of(agent, daemon)


def daemon_pid(agent, key):
    return agent.status()[key]['pid']


def test_a_spare_waits_set_up_and_named(agent):
    agent.started('teststorlets.Echo', key='k1')
    daemon = daemon_pid(agent, 'k1')
    ((supervisor, (worker,)),) = ready_spares(agent, daemon).items()
    assert comm(supervisor) == comm(worker) == SPARE_NAME
    # Its limits are set, before any call.
    limits = rlimits(worker)
    assert limits['Max core file size'] == ('0', '0')
    assert limits['Max file size'] == (str(64 * MIB), str(64 * MIB))
    # It holds its call socket, its socket to its supervisor (to serve
    # again), its log and error pipes, and stdin: not a socket of the
    # daemon's, nor anything of another call.
    assert wait_for(lambda: len(os.listdir('/proc/%d/fd' % worker)) == 7)
    targets = [os.readlink('/proc/%d/fd/%s' % (worker, fd))
               for fd in os.listdir('/proc/%d/fd' % worker)]
    assert len([t for t in targets if t.startswith('socket:')]) == 2


def test_a_call_runs_on_the_spare_in_a_new_worker(make_agent):
    agent = make_agent('--calls-per-worker', '1')
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Count', key='k1')
    daemon = daemon_pid(agent, 'k1')
    pids = set()
    for _ in range(3):
        ((_, (spare,)),) = ready_spares(agent, daemon).items()
        result = agent.execute(daemon_sock)
        assert result.reply == {'ok': True}
        output = json.loads(result.output)
        # The spare took the call; a new instance, and nothing left of the
        # calls before (module state included).
        assert output == {'pid': spare, 'calls': 1, 'instances': 1}
        pids.add(output['pid'])
        assert not is_alive(spare)
    assert len(pids) == 3


def test_spares_count(make_agent, tmp_path):
    agent = make_agent('--spares', '2')
    daemon_sock = agent.started('teststorlets.Rendezvous', key='k1')
    daemon = daemon_pid(agent, 'k1')
    ready_spares(agent, daemon, count=2)
    # More calls at once than spares: the extra one gets a pair of its
    # own, which stays for the next burst, then goes once idle for
    # EXTRA_PAIR_IDLE seconds.
    meeting = tmp_path / 'meeting'
    meeting.mkdir()
    params = {'dir': str(meeting), 'count': '3'}
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(
        agent.execute(daemon_sock, params=params).reply)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert replies == [{'ok': True}] * 3
    ready_spares(agent, daemon, count=3)
    time.sleep(EXTRA_PAIR_IDLE)
    ready_spares(agent, daemon, count=2)
    assert sorted(agent.processes(spares=False)) == sorted(
        [agent.proc.pid, daemon])


def test_no_spares(make_agent):
    agent = make_agent('--spares', '0')
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    assert agent.execute(daemon_sock, inputs=[b'x']).output == b'x'
    assert agent.spares() == []
    assert sorted(agent.processes()) == sorted(
        [agent.proc.pid, daemon_pid(agent, 'k1')])


def test_spares_die_with_their_daemon(agent):
    agent.started('teststorlets.Echo', key='k1')
    daemon = daemon_pid(agent, 'k1')
    ((supervisor, (worker,)),) = ready_spares(agent, daemon).items()
    os.kill(daemon, signal.SIGKILL)
    assert wait_gone(supervisor) and wait_gone(worker)
    assert wait_for(lambda: agent.processes() == [agent.proc.pid])


def test_an_idle_daemon_exits_with_its_spares(make_agent):
    agent = make_agent('--daemon-idle-timeout', '0.5')
    agent.started('teststorlets.Echo', key='k1')
    daemon = daemon_pid(agent, 'k1')
    spares = ready_spares(agent, daemon)
    assert wait_gone(daemon)
    assert all(wait_gone(pid) for pid in agent.spares() + list(spares))
    assert wait_for(lambda: agent.processes() == [agent.proc.pid])


def test_a_killed_spare_is_replaced(agent):
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    daemon = daemon_pid(agent, 'k1')
    for victim in ('worker', 'supervisor'):
        ((supervisor, (worker,)),) = ready_spares(agent, daemon).items()
        os.kill(worker if victim == 'worker' else supervisor,
                signal.SIGKILL)
        assert wait_gone(worker)
        # The next call is served (by another pair: the daemon sees that
        # this one is gone when it hands it the call, if not before)...
        assert agent.execute(daemon_sock, inputs=[b'x']).output == b'x'
        # ... and a new spare comes.
        assert wait_gone(supervisor)
        ready_spares(agent, daemon)
        assert sorted(agent.processes(spares=False)) == sorted(
            [agent.proc.pid, daemon])


def test_an_idle_supervisor_ignores_sigterm(agent):
    daemon_sock = agent.started('teststorlets.Echo', key='k1')
    daemon = daemon_pid(agent, 'k1')
    ((supervisor, (worker,)),) = ready_spares(agent, daemon).items()
    os.kill(supervisor, signal.SIGTERM)
    time.sleep(0.1)
    assert is_alive(supervisor) and is_alive(worker)
    assert agent.execute(daemon_sock, inputs=[b'x']).output == b'x'


def test_a_spare_serves_a_call_in_a_saturated_sandbox(make_agent):
    agent = make_agent(max_processes=40)
    echo_sock = agent.started('teststorlets.Echo', key='echo')
    ready_spares(agent, daemon_pid(agent, 'echo'))
    saturate_sock = agent.started('hostile.Saturate', key='sat')
    release = os.path.join(agent.base, 'release')
    held = agent.send_execute(saturate_sock, params={'release': release})
    count, errno = read_line(held[2]).split()
    assert errno == '11'
    # No process can be started: the spare's worker, already there, runs
    # the call (its supervisor cannot fork the next one afterwards).
    assert agent.execute(echo_sock, inputs=[b'x']).output == b'x'
    open(release, 'w').close()
    conn, meta_r, out_r = held
    read_until_eof([meta_r, out_r], time.monotonic() + 10)
    with conn:
        reply, _ = channel.recv_message(conn, channel.deadline_after(10))
    assert reply == {'ok': True}
    # Once processes can be started again, the spare comes back.
    ready_spares(agent, daemon_pid(agent, 'echo'))
    assert agent.execute(echo_sock, inputs=[b'y']).output == b'y'


def test_an_idle_spare_cannot_be_ptraced(make_agent):
    """Not dumpable until its call: a storlet of another call (same uid)
    cannot ptrace it, nor read its memory, to get at the next call."""
    agent = make_agent(unprivileged=True)
    if agent.user is None:
        pytest.skip('requires root, to run the agent as another uid')
    agent.started('teststorlets.Echo', key='k1')
    spares = ready_spares(agent, daemon_pid(agent, 'k1'))
    # The kernel gives /proc/<pid>/* of a process that is not dumpable to
    # root.
    for pid in list(spares) + sum(spares.values(), []):
        assert os.stat('/proc/%d/environ' % pid).st_uid == 0


# -- a worker that serves calls in turn (--calls-per-worker) -----------------

def test_a_worker_serves_calls_in_turn_then_is_replaced(make_agent):
    agent = make_agent('--calls-per-worker', '3')
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Count', key='k1')
    daemon = daemon_pid(agent, 'k1')
    outputs = []
    for _ in range(4):
        ((_, (spare,)),) = ready_spares(agent, daemon).items()
        outputs.append(json.loads(agent.execute(daemon_sock).output))
        assert outputs[-1]['pid'] == spare
    # One process for three calls, module state kept, a new instance each
    # time; the fourth call gets a fresh process.
    first = outputs[0]['pid']
    assert outputs[:3] == [{'pid': first, 'calls': n, 'instances': n}
                           for n in (1, 2, 3)]
    assert outputs[3]['pid'] != first and not is_alive(first)
    assert outputs[3]['calls'] == 1


@pytest.mark.parametrize('leave', ['thread', 'process', 'error'])
def test_a_call_that_leaves_something_ends_its_worker(agent, leave):
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Leave', key='k1')
    daemon = daemon_pid(agent, 'k1')
    first = json.loads(agent.execute(daemon_sock).output)
    result = agent.execute(daemon_sock, params={'leave': leave})
    assert result.reply['ok'] == (leave != 'error'), result.reply
    assert json.loads(result.output)['pid'] == first['pid']
    # Nothing of that call is left, and the next one starts afresh.
    after = json.loads(agent.execute(daemon_sock).output)
    assert after['pid'] != first['pid'] and after['calls'] == 1
    assert not is_alive(first['pid'])
    assert wait_for(lambda: sorted(agent.processes(spares=False)) == sorted(
        [agent.proc.pid, daemon]))


def test_calls_of_one_worker_keep_their_own_scratch_and_log(make_agent,
                                                            tmp_path):
    root = tmp_path / 'scratch'
    root.mkdir(mode=0o1777)
    agent = make_agent('--scratch-root', str(root))
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Leave', key='k1')
    first = agent.execute(daemon_sock, params={'leave': 'scratch'})
    agent.truncate_log()
    second = agent.execute(daemon_sock)
    one, two = json.loads(first.output), json.loads(second.output)
    assert one['pid'] == two['pid'] and two['calls'] == 2
    assert one['cwd'] != two['cwd']
    assert os.path.dirname(one['cwd']) == str(root)
    assert not os.path.exists(one['cwd'])   # removed with what it held
    assert first.log.count('call 1') == 1 and 'call 2' not in first.log
    assert second.log.count('call 2') == 1 and 'call 1' not in second.log


def test_a_cancelled_call_ends_its_worker(agent, tmp_path):
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Leave', key='k1')
    first = json.loads(agent.execute(daemon_sock).output)['pid']
    conn, _, out_r = agent.send_execute(
        daemon_sock, params={'leave': 'hold',
                             'release': str(tmp_path / 'never')})
    assert json.loads(read_line(out_r))['pid'] == first
    conn.close()   # the gateway gives up on that call
    after = json.loads(agent.execute(daemon_sock).output)
    assert after['pid'] != first and after['calls'] == 1
    assert wait_for(lambda: not is_alive(first))


def test_a_worker_between_calls_cannot_be_ptraced(make_agent):
    agent = make_agent(unprivileged=True)
    if agent.user is None:
        pytest.skip('requires root, to run the agent as another uid')
    agent.write_storlet('spare_storlets.py', SPARE_STORLETS)
    daemon_sock = agent.started('spare_storlets.Count', key='k1')
    worker = json.loads(agent.execute(daemon_sock).output)['pid']
    ((_, (spare,)),) = ready_spares(agent, daemon_pid(agent, 'k1')).items()
    assert spare == worker and comm(worker) == SPARE_NAME
    assert os.stat('/proc/%d/environ' % worker).st_uid == 0
