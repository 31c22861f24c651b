"""``max_containers_per_node`` under concurrency: real flock, real processes.

``DirDocker`` is a fake docker client whose containers are files in a
directory, so that several processes (forked, each with its own gateway, as
the Swift servers of a node) share one "dockerd". Listing is slow, like
Docker's, to widen any race between counting and starting.
"""
import json
import multiprocessing
import os
import tempfile
import time

import docker.errors
import pytest
from hypothesis import given, settings, strategies as st

from storlets.errors import SandboxBusy, SandboxError
from storlets.gateway import locks
from storlets.gateway.docker import (
    DockerStorletGateway, container_name, scope_of)
from storlets.gateway.invocation import StorletRef, StorletResult


class DirContainer:
    def __init__(self, client, name):
        self.client, self.name, self.status = client, name, 'running'
        with open(os.path.join(client.root, name)) as f:
            self.labels = dict(json.load(f), managed_by='storlets')

    def remove(self, force=False):
        try:
            os.unlink(os.path.join(self.client.root, self.name))
        except FileNotFoundError:
            raise docker.errors.NotFound('gone')
        with open(self.client.log, 'a') as f:
            f.write('remove %s\n' % self.labels['storlets.scope'])


class DirContainers:
    def __init__(self, client):
        self.client = client

    def get(self, name):
        if not os.path.exists(os.path.join(self.client.root, name)):
            raise docker.errors.NotFound('no such container')
        return DirContainer(self.client, name)

    def list(self, filters=None):
        names = os.listdir(self.client.root)
        time.sleep(self.client.latency)
        found = []
        for name in names:
            try:
                found.append(DirContainer(self.client, name))
            except FileNotFoundError:
                pass
        return found

    def run(self, **kwargs):
        scope = kwargs['labels']['storlets.scope']
        fd = os.open(os.path.join(self.client.root, kwargs['name']),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with open(fd, 'w') as f:
            json.dump(kwargs['labels'], f)
        with open(self.client.log, 'a') as f:
            f.write('run %s %d\n' % (scope, len(os.listdir(self.client.root))))


class DirDocker:
    def __init__(self, root, latency=0.0):
        self.root = os.path.join(root, 'containers')
        self.log = os.path.join(root, 'docker.log')
        self.latency = latency
        os.makedirs(self.root, exist_ok=True)
        self.containers = DirContainers(self)

    def running(self, node=None):
        """Scopes of running sandboxes (of one node, if given)."""
        labels = [DirContainer(self, n).labels for n in os.listdir(self.root)]
        return {c['storlets.scope'] for c in labels
                if node is None or c.get('storlets.node', '') == node}

    def add(self, scope, node=''):
        self.containers.run(name=container_name(scope, node),
                            labels={'storlets.scope': scope,
                                    'storlets.node': node})

    def peak(self):
        counts = [int(line.split()[2]) for line in open(self.log)
                  if line.startswith('run ')]
        return max(counts, default=0)


def gateway(root, limit, latency=0.0, start_timeout='0.3'):
    return DockerStorletGateway(
        {'host_root': root, 'max_containers_per_node': str(limit),
         'sandbox_start_timeout': start_timeout},
        docker_client=DirDocker(root, latency))


def cold_start(root, limit, account, barrier, results):
    gw = gateway(root, limit, latency=0.05)
    barrier.wait()
    try:
        gw.ensure_sandbox(account)   # no agent answers: SandboxError
    except SandboxBusy:
        results.put((account, 'busy'))
    except SandboxError:
        results.put((account, 'started'))


def run_processes(target, args_list):
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0


def test_concurrent_cold_starts_from_processes_keep_the_limit(tmp_path):
    root, limit = str(tmp_path), 3
    client = DirDocker(root)
    for i in range(limit):
        client.add(scope_of('AUTH_old%d' % i))
    ctx = multiprocessing.get_context('fork')
    accounts = ['AUTH_new%d' % i for i in range(6)]
    barrier, results = ctx.Barrier(len(accounts)), ctx.Queue()
    run_processes(cold_start, [(root, limit, a, barrier, results)
                               for a in accounts])
    outcomes = dict(results.get(timeout=5) for _ in accounts)
    assert set(outcomes.values()) == {'started'}
    assert client.peak() <= limit
    assert len(client.running()) <= limit


def hold_call(root, account, ready, done):
    with locks.acquire(os.path.join(root, 'locks', scope_of(account))):
        ready.set()
        done.wait(30)


def test_a_sandbox_with_a_call_in_flight_in_another_process_stays(tmp_path):
    root = str(tmp_path)
    client = DirDocker(root)
    busy, idle = scope_of('AUTH_busy'), scope_of('AUTH_idle')
    client.add(busy)
    client.add(idle)
    gw = gateway(root, 2)
    gw._mark_used(busy)
    os.utime(gw.usage_file(busy), (1000, 1000))   # the least recently used
    gw._mark_used(idle)
    ctx = multiprocessing.get_context('fork')
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_call, args=(root, 'AUTH_busy', ready,
                                                 done))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(SandboxError):
            gw.ensure_sandbox('AUTH_new')
        assert client.running() == {busy, scope_of('AUTH_new')}
        # every sandbox busy now: the newcomer is refused, nothing stopped
        with locks.acquire(gw.lock_file(scope_of('AUTH_new'))):
            started = time.monotonic()
            with pytest.raises(SandboxBusy) as caught:
                gw.ensure_sandbox('AUTH_third')
            assert time.monotonic() - started < 2
        assert 'too many active sandboxes' in str(caught.value)
        assert client.running() == {busy, scope_of('AUTH_new')}
    finally:
        done.set()
        holder.join(10)


class Source:
    def fetch(self, account, kind, name):
        return {}, [b'code']


def test_invoke_holds_its_locks_until_the_result_is_closed(tmp_path):
    gw = gateway(str(tmp_path), 0)
    scope = scope_of('AUTH_a')
    ref = StorletRef(name='s.py', language='python', main='s.S', etag='1')
    calls = []

    def fake_execute(invocation, scope, key, storlet):
        calls.append(key)
        if invocation == 'fail':
            raise SandboxError('no')
        return StorletResult({}, iter([b'out']))

    gw._execute = fake_execute

    class Call:
        account, storlet = 'AUTH_a', ref

    def evictable():
        held = locks.acquire(gw.lock_file(scope), exclusive=True, timeout=0)
        version = locks.acquire(
            os.path.join(gw.cache.scope_dir(scope), calls[0]),
            exclusive=True, timeout=0, create=False)
        free = held is not None and version is not None
        for h in (held, version):
            if h is not None:
                h.release()
        return free

    result = gw.invoke(Call(), Source())
    assert not evictable()
    assert list(result.body) == [b'out']
    assert not evictable()          # iterated but not closed: still a call
    result.body.close()
    assert evictable()
    result = gw.invoke(Call(), Source())
    assert not evictable()
    del result                      # never iterated nor closed
    assert evictable()

    class Failing(Call):
        pass

    gw._execute = lambda *args: (_ for _ in ()).throw(SandboxError('x'))
    with pytest.raises(SandboxError):
        gw.invoke(Failing(), Source())
    assert evictable()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['call', 'end', 'start']),
                          st.integers(0, 5)), max_size=30))
def test_random_events_never_break_the_limit_nor_a_call(events):
    limit = 3
    with tempfile.TemporaryDirectory() as root:
        client = DirDocker(root)
        gw = gateway(root, limit, start_timeout='0.05')
        calls = {}
        for what, n in events:
            scope = scope_of('AUTH_%d' % n)
            if what == 'call' and scope in client.running():
                calls.setdefault(scope, []).append(
                    locks.acquire(gw.lock_file(scope), timeout=0))
            elif what == 'end' and calls.get(scope):
                calls[scope].pop().release()
            elif what == 'start' and scope not in client.running():
                busy = {s for s, held in calls.items() if held}
                try:
                    gw._try_start(gw.config, scope, time.monotonic() + 1)
                except SandboxBusy:
                    others = client.running() - {scope}
                    assert len(others) >= limit and others <= busy
                else:
                    assert scope in client.running()
            running = client.running()
            assert len(running) <= limit
            assert {s for s, held in calls.items() if held} <= running


def test_nodes_sharing_one_dockerd_count_and_evict_only_their_own(tmp_path):
    """Two storage nodes on one host (one dockerd, own host_root and
    node_name each), limit 2 per node: filling one never stops the
    other's sandboxes, and the same account gets one sandbox per node."""
    client = DirDocker(str(tmp_path))

    def node(name):
        root = str(tmp_path / name)
        return DockerStorletGateway(
            {'host_root': root, 'node_name': name,
             'max_containers_per_node': '2', 'sandbox_start_timeout': '0.2'},
            docker_client=client)

    one, two = node('node1'), node('node2')
    for account in ('AUTH_a', 'AUTH_b'):
        with pytest.raises(SandboxError):   # no agent answers in the fake
            one.ensure_sandbox(account)
    for account in ('AUTH_a', 'AUTH_c', 'AUTH_d'):
        with pytest.raises(SandboxError):
            two.ensure_sandbox(account)
    assert client.running('node1') == {scope_of('AUTH_a'), scope_of('AUTH_b')}
    assert len(client.running('node2')) == 2      # node2 evicted its own
    assert scope_of('AUTH_d') in client.running('node2')
    names = set(os.listdir(client.root))
    assert 'storlets-node1-' + scope_of('AUTH_a') in names
    assert 'storlets-node1-' + scope_of('AUTH_b') in names
    assert 'storlets-node2-' + scope_of('AUTH_d') in names
    assert os.path.isdir(str(tmp_path / 'node2' / 'run' / scope_of('AUTH_d')))
    assert not os.path.exists(str(tmp_path / 'node1' / 'run' /
                                  scope_of('AUTH_d')))
