"""Hostile storlets (tests/functional/storlets/hostile/), in AUTH_test4.

For each one:

* the request ends with a clear error within storlet_timeout + MARGIN:
  ``503 Storlet execution failed`` / ``... timed out`` before any output, a
  broken (never cleanly terminated) transfer once output has started;
* meanwhile, AUTH_test keeps being served: a plain GET and an
  identity-storlet GET, from a thread, each answer within PROBE_MAX; and
  the proxy does not count the storlet's failure against an object server
  (Swift stops using a node after 10 of those in a minute);
* afterwards a good storlet works in the same sandbox, and nothing is left
  behind (``leaks.no_leaks``: storlet processes, server descriptors,
  containers, run-dir files, cache temp dirs).

How long each case took to end (and to be cleaned up) is printed at the
end of the module (``pytest -s``).
"""
import http.client
import json
import os
import socket
import threading
import time
import uuid

import pytest
from swiftclient import ClientException

from tests.functional import leaks
from tests.functional.conftest import STORLETS_DIR, connection, deploy

ACCOUNT = 'AUTH_test4'
OTHER_ACCOUNT = 'AUTH_test'
HOSTILE_DIR = os.path.join(STORLETS_DIR, 'hostile')
TIMEOUT = leaks.storlet_timeout()
MARGIN = 10.0
PROBE_MAX = 5.0
FAILED = b'Storlet execution failed'
TIMED_OUT = b'Storlet execution timed out'
GOOD = 'identity.py'
PROBE_STORLET = 'hostile_probe_identity.py'
FLOOD_READ = 200 * 1024 * 1024
HOSTILE = {
    'fork_bomb.py': 'ForkBombStorlet',
    'memory_bomb.py': 'MemoryBombStorlet',
    'cpu_spin.py': 'CpuSpinStorlet',
    'sleep_forever.py': 'SleepForeverStorlet',
    'flood_output.py': 'FloodOutputStorlet',
    'huge_metadata.py': 'HugeMetadataStorlet',
    'write_after_close.py': 'WriteAfterCloseStorlet',
    'no_metadata.py': 'NoMetadataStorlet',
    'close_early.py': 'CloseEarlyStorlet',
    'init_raises.py': 'InitRaisesStorlet',
    'syntax_error.py': 'SyntaxErrorStorlet',
    'missing_module.py': 'MissingModuleStorlet',
    'escape_setsid.py': 'EscapeSetsidStorlet',
    'snoop.py': 'SnoopStorlet',
    'netprobe.py': 'NetprobeStorlet',
}
PROXY = {'X-Storlet-Run-On-Proxy': ''}
#: where the hostile GETs (object side) run: the node the proxies read first
NODE = leaks.OBJECT_NODE
#: test id -> what was measured, printed at the end of the module
MEASURED = {}


class Env:
    """Everything a hostile test needs; built once per module."""

    def __init__(self, conn4, url, token, container, probe_container,
                 probe_data):
        self.conn4 = conn4
        self.url = url
        self.token = token
        self.container = container
        self.probe_container = probe_container
        self.probe_data = probe_data

    def probe_call(self):
        conn = connection('tester')
        try:
            _, body = conn.get_object(self.probe_container, 'probe', headers={
                'X-Run-Storlet': PROBE_STORLET})
            assert body == self.probe_data
        finally:
            conn.close()

    def good_call(self):
        """The good storlet in the hostile account's sandboxes: the object
        node's and the proxy's (each node has its own)."""
        for extra in ({}, PROXY):
            _, body = self.conn4.get_object(
                self.container, 'o',
                headers=dict(extra, **{'X-Run-Storlet': GOOD}))
            assert body == b'hostile input\n'


@pytest.fixture(scope='module')
def env():
    conn4 = connection('tester4')
    conn4.head_account()
    for module, cls in HOSTILE.items():
        with open(os.path.join(HOSTILE_DIR, module), 'rb') as f:
            deploy(conn4, None, '%s.%s' % (module[:-3], cls), name=module,
                   source=f.read())
    deploy(conn4, GOOD, 'identity.IdentityStorlet')
    container = 'hostile-' + uuid.uuid4().hex[:10]
    conn4.put_container(container)
    conn4.put_object(container, 'o', b'hostile input\n')
    conn4.put_object(container, 'big', os.urandom(8 * 1024 * 1024))
    conn = connection('tester')
    probe_container = 'functest-hostile-probe-' + uuid.uuid4().hex[:8]
    probe_data = os.urandom(64 * 1024)
    conn.put_container(probe_container)
    conn.put_object(probe_container, 'probe', probe_data)
    deploy(conn, 'identity.py', 'hostile_probe_identity.IdentityStorlet',
           name=PROBE_STORLET)
    url, token = conn4.get_auth()
    yield Env(conn4, url, token, container, probe_container, probe_data)
    for name in ('o', 'big'):
        conn4.delete_object(container, name)
    conn4.delete_container(container)
    for module in HOSTILE:
        conn4.delete_object('storlet', module)
    conn.delete_object(probe_container, 'probe')
    conn.delete_container(probe_container)
    conn.delete_object('storlet', PROBE_STORLET)
    conn.close()
    conn4.close()
    print('\nhostile storlets: how each call ended (seconds)')
    for test_id, measured in MEASURED.items():
        print('  %-60s %s' % (test_id, ', '.join(
            '%s=%s' % kv for kv in measured.items())))


class Outcome:
    status = None
    body = b''
    received = 0
    broken = None        # why a 200's body broke off (None: clean end)
    error = None         # a client-side error before any status
    elapsed = None       # request sent -> response ended (or we hung up)
    headers_after = None
    trans_id = None

    @property
    def clean_200(self):
        return self.status == 200 and self.broken is None and \
            self.error is None

    def __repr__(self):
        return ('<status=%s received=%d broken=%s error=%s elapsed=%.1f '
                'body=%r>' % (self.status, self.received, self.broken,
                              self.error, self.elapsed or -1,
                              self.body[:120]))


def hostile_get(env, storlet, params=None, headers=None, obj='o',
                read_limit=None, keep=1024 * 1024):
    """GET through ``storlet`` with a raw client; never raises.

    Reads the whole body, or ``read_limit`` bytes and then hangs up; keeps
    about the first ``keep`` bytes in ``body``.
    """
    h = {'X-Auth-Token': env.token, 'X-Run-Storlet': storlet}
    for i, (key, value) in enumerate((params or {}).items()):
        h['X-Storlet-Parameter-%d' % i] = '%s:%s' % (key, value)
    h.update(headers or {})
    path = '/' + env.url.split('/', 3)[3] + '/%s/%s' % (env.container, obj)
    outcome = Outcome()
    client = http.client.HTTPConnection(
        '127.0.0.1', 8080, timeout=TIMEOUT + MARGIN + 20)
    started = time.monotonic()
    resp = None
    try:
        client.request('GET', path, headers=h)
        resp = client.getresponse()
        outcome.status = resp.status
        outcome.trans_id = resp.getheader('X-Trans-Id')
        outcome.headers_after = time.monotonic() - started
        kept = []
        while read_limit is None or outcome.received < read_limit:
            try:
                chunk = resp.read(1024 * 1024)
            except (http.client.HTTPException, ConnectionError) as err:
                partial = getattr(err, 'partial', b'')
                if isinstance(partial, bytes):
                    outcome.received += len(partial)
                    kept.append(partial)
                outcome.broken = repr(err)[:200]
                break
            if not chunk:
                break
            outcome.received += len(chunk)
            if sum(map(len, kept)) < keep:
                kept.append(chunk)
        outcome.body = b''.join(kept)
    except socket.timeout:
        outcome.error = 'client timed out: the request hung'
    except (http.client.HTTPException, OSError) as err:
        outcome.error = repr(err)[:300]
    finally:
        outcome.elapsed = time.monotonic() - started
        if resp is not None:
            resp.close()
        client.close()
    return outcome


@pytest.fixture
def guard(env, request):
    """Run a hostile call with every check around it (see module doc).

    Checked after the test's own assertions (so both are reported): the
    proxy did not count the storlet's failure against object servers.
    Swift's proxy stops using a node for 60 s after 10 such errors within
    a minute, for everyone (see test_node_error_limiting_...).
    """
    node_errors = []

    def run(call, settle=5.0):
        # both sandboxes are up before the snapshot
        env.good_call()
        env.probe_call()
        measured = MEASURED.setdefault(request.node.name, {})
        probe = leaks.Probe(lambda: connection('tester'),
                            env.probe_container, 'probe', env.probe_data,
                            PROBE_STORLET)
        with leaks.no_leaks(ACCOUNT, settle=settle,
                            result=measured) as before:
            probe.start()
            try:
                outcome = call()
            finally:
                probe.stop()
        if isinstance(outcome, Outcome):
            measured['ended_after'] = round(outcome.elapsed, 2)
            measured['status'] = outcome.status
            measured['outcome'] = (
                'broken after %d bytes' % outcome.received if outcome.broken
                else outcome.error or repr(outcome.body[:40]))
            if outcome.trans_id:
                node_errors.extend(
                    before.proxy_log.node_errors(outcome.trans_id))
        slow_or_failed = [t for t in probe.timings
                          if t[2] is not None or t[1] > PROBE_MAX]
        assert len(probe.timings) >= 2 and not slow_or_failed, \
            'AUTH_test was not served meanwhile: %s' % probe.timings
        measured['probe_max'] = round(max(t[1] for t in probe.timings), 2)
        env.good_call()           # the sandbox still works
        return outcome

    yield run
    assert not node_errors, 'the proxy counted the storlet failure ' \
        'against object servers: %s' % node_errors


def assert_error_before_output(outcome, body):
    assert outcome.status == 503 and outcome.body == body, outcome
    assert outcome.elapsed < TIMEOUT + MARGIN, outcome


def assert_timed_out(outcome):
    assert_error_before_output(outcome, TIMED_OUT)
    assert outcome.elapsed > TIMEOUT - 1, outcome


def assert_broken_transfer(outcome):
    assert outcome.status == 200 and outcome.broken is not None, outcome
    assert outcome.elapsed < TIMEOUT + MARGIN, outcome


def container_limits():
    container = leaks.sandbox(ACCOUNT, NODE)
    assert container is not None, 'no sandbox for %s' % ACCOUNT
    return container.attrs['HostConfig']


# -- resource exhaustion ------------------------------------------------------

def test_fork_bomb_is_bounded_and_killed(env, guard):
    env.good_call()
    limit = container_limits()['PidsLimit']
    if not limit or limit <= 0 or limit > 4096:
        pytest.fail('refusing to run a fork bomb: the sandbox has no '
                    'sensible pids limit (PidsLimit=%r)' % limit)
    peak = []

    def call():
        done = threading.Event()

        def sample():
            container = leaks.sandbox(ACCOUNT, NODE)
            while not done.wait(0.5):
                peak.append(len(leaks.sandbox_processes(container)))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            return hostile_get(env, 'fork_bomb.py')
        finally:
            done.set()
            sampler.join()

    outcome = guard(call)
    MEASURED['test_fork_bomb_is_bounded_and_killed']['peak_processes'] = \
        max(peak)
    assert_timed_out(outcome)
    # it did explode, and only up to the limit
    assert limit // 2 <= max(peak) <= limit, (max(peak), limit)


def test_memory_bomb_is_killed(env, guard):
    env.good_call()
    limits = container_limits()
    if not 0 < limits['Memory'] <= 2 * 1024 ** 3 or \
            limits['MemorySwap'] != limits['Memory']:
        pytest.fail('refusing to run a memory bomb: memory %r, swap %r'
                    % (limits['Memory'], limits['MemorySwap']))
    outcome = guard(lambda: hostile_get(env, 'memory_bomb.py'))
    assert_error_before_output(outcome, FAILED)


def test_cpu_spin_before_metadata_times_out(env, guard):
    outcome = guard(lambda: hostile_get(env, 'cpu_spin.py'))
    assert_timed_out(outcome)


def test_cpu_spin_after_output_breaks_the_transfer(env, guard):
    outcome = guard(lambda: hostile_get(
        env, 'cpu_spin.py', {'when': 'after', 'size': 100000}))
    assert_broken_transfer(outcome)
    # some of the output got through before the stall (Swift's proxy
    # forwards 64 KiB chunks, so not necessarily all of it)
    assert 0 < outcome.received <= 100000, outcome
    assert set(outcome.body) == {ord('s')}
    assert outcome.elapsed > TIMEOUT - 1, outcome


@pytest.mark.parametrize('where', ['object', 'proxy'])
def test_sleeping_forever_times_out(env, guard, where):
    outcome = guard(lambda: hostile_get(
        env, 'sleep_forever.py', headers=PROXY if where == 'proxy' else {}))
    assert_timed_out(outcome)


@pytest.mark.parametrize('where', ['object', 'proxy'])
def test_endless_output_is_killed_when_the_client_leaves(env, guard, where,
                                                         request):
    gone = {}

    def call():
        outcome = hostile_get(env, 'flood_output.py', obj='big',
                              headers=PROXY if where == 'proxy' else {},
                              read_limit=FLOOD_READ)
        hung_up = time.monotonic()
        deadline = hung_up + 10
        while leaks.storlet_processes(ACCOUNT) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        gone['killed_after_hangup'] = round(time.monotonic() - hung_up, 2)
        return outcome

    outcome = guard(call)
    MEASURED[request.node.name].update(gone)
    assert outcome.status == 200 and outcome.error is None, outcome
    assert outcome.received >= FLOOD_READ
    assert set(outcome.body) == {ord('F')}
    assert gone['killed_after_hangup'] < 5, gone


@pytest.mark.parametrize('size,keys', [
    (10 * 1000 * 1000, 1),      # 10 MB: beyond the gateway's own cap
    (200 * 1000, 1),            # one 200 kB header value
    (200 * 1000, 2000),         # 2000 headers of 100 bytes
])
def test_huge_metadata_is_refused_cleanly(env, guard, size, keys):
    outcome = guard(lambda: hostile_get(
        env, 'huge_metadata.py', {'size': size, 'keys': keys}))
    # never a hang, never a 200; an error that says what failed (the
    # storlet, or its metadata), not a generic "try again later"
    assert outcome.error is None, outcome
    assert outcome.status is not None and outcome.status >= 400, outcome
    assert outcome.body == FAILED or (
        len(outcome.body) < 1000
        and b'metadata' in outcome.body.lower()), outcome
    assert outcome.elapsed < TIMEOUT + MARGIN, outcome


@pytest.mark.skipif(
    os.environ.get('STORLETS_DISRUPTIVE_TESTS') != '1',
    reason='when the engine is wrong, this makes the proxy stop using every '
    'object server for 60 s (everyone gets 503s); set '
    'STORLETS_DISRUPTIVE_TESTS=1 to run it')
def test_node_error_limiting_by_a_hostile_storlet(env):
    # Swift's proxy error-limits a node after error_suppression_limit (10)
    # errors within error_suppression_interval (60 s), per proxy worker.
    # Storlet failures must not count, or any user can take the object
    # servers out of service for everyone.
    for _ in range(25):
        outcome = hostile_get(env, 'huge_metadata.py', {'size': 200000})
        assert outcome.status and outcome.status >= 400, outcome
    conn = connection('tester')
    try:
        for _ in range(4):   # both proxy workers
            try:
                _, body = conn.get_object(env.probe_container, 'probe')
            except ClientException as err:
                pytest.fail('after 25 hostile calls in AUTH_test4, a plain '
                            'GET in AUTH_test fails: %s' % err)
            assert body == env.probe_data
    finally:
        conn.close()


# -- API misuse ---------------------------------------------------------------

def test_write_after_close_fails_the_call(env, guard):
    outcome = guard(lambda: hostile_get(env, 'write_after_close.py'))
    # the storlet failed: never a clean 200, never the late bytes
    assert not outcome.clean_200, outcome
    assert b'AFTER CLOSE' not in outcome.body
    if outcome.status == 200:
        assert_broken_transfer(outcome)
    else:
        assert_error_before_output(outcome, FAILED)


def test_write_after_close_caught_is_a_clean_200(env, guard):
    outcome = guard(lambda: hostile_get(env, 'write_after_close.py',
                                        {'catch': 'yes'}))
    assert outcome.clean_200, outcome
    assert outcome.body == b'before close'


def test_never_writing_metadata_fails(env, guard):
    outcome = guard(lambda: hostile_get(env, 'no_metadata.py'))
    assert_error_before_output(outcome, FAILED)


@pytest.mark.parametrize('where', ['object', 'proxy'])
@pytest.mark.parametrize('data', ['', 'short answer'])
def test_closing_output_early_is_a_clean_200(env, guard, data, where):
    outcome = guard(lambda: hostile_get(
        env, 'close_early.py', {'data': data} if data else {}, obj='big',
        headers=PROXY if where == 'proxy' else {}))
    assert outcome.clean_200, outcome
    assert outcome.body == data.encode()


@pytest.mark.parametrize('storlet', ['init_raises.py', 'syntax_error.py',
                                     'missing_module.py'])
def test_broken_code_fails_fast(env, guard, storlet):
    outcome = guard(lambda: hostile_get(env, storlet))
    assert_error_before_output(outcome, FAILED)
    assert outcome.elapsed < 5, outcome


def test_detached_child_is_not_left_running(env, guard):
    # The call itself succeeds; the process it detached (own session, so
    # outside the worker's process group) must not survive it.
    outcome = guard(lambda: hostile_get(env, 'escape_setsid.py'))
    assert outcome.clean_200, outcome
    assert outcome.body == b'left a process behind'


# -- looking outside ----------------------------------------------------------

DEVICE_NAMES = ('sd', 'vd', 'hd', 'nvme', 'xvd', 'mem', 'kmem', 'port',
                'loop', 'dm-', 'kmsg', 'fuse', 'net', 'tun')
HOST_NAMES = {'storlets-aio', 'swift.conf', 'proxy-server.conf',
              'object-server', 'encryption-root-secret', 'docker.sock',
              'containerd.sock', 'overlay2', 'containers', 'main'}


def listed_names(result):
    return set(result.get('dir', []))


def test_snoop_sees_no_host_files_nor_other_accounts_code(env, guard):
    conn = connection('tester')
    secret_name, secret_marker, secret_sha = leaks.plant_secret_storlet(
        conn, 'test')
    other_scope = leaks.scope_of(OTHER_ACCOUNT)
    own_cache = os.path.join(leaks.host_root(NODE), 'cache',
                             leaks.scope_of(ACCOUNT))
    # the account's cached versions while the call runs (the node's cache
    # collection may remove some before the call's report is read)
    own_versions, sampling = set(), threading.Event()

    def sample():
        while not sampling.is_set():
            try:
                own_versions.update(os.listdir(own_cache))
            except OSError:
                pass
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        outcome = guard(lambda: hostile_get(
            env, 'snoop.py', {'other_scope': other_scope},
            keep=64 * 1024 * 1024))
    finally:
        sampling.set()
        sampler.join()
        conn.delete_object('storlet', secret_name)
        conn.close()
    assert outcome.clean_200, outcome
    assert outcome.received == len(outcome.body)
    report = json.loads(outcome.body)
    host_paths = leaks.host_paths_in_mountinfo(report['mountinfo'])
    print('\nsnoop: host paths revealed by /proc/self/mountinfo: %s'
          % host_paths)
    print('snoop: files readable: %d; processes visible: %s'
          % (len(report['files']), [p['cmdline'][:40]
                                     for p in report['processes']]))
    # 1. nothing of the other account: its code is cached on this node
    other_cache = os.path.join(leaks.host_root(NODE), 'cache', other_scope)
    assert any(secret_name in names for _, _, names in os.walk(other_cache))
    assert set(report['code_dir']) <= own_versions
    assert not set(report['code_dir']) & set(os.listdir(other_cache))
    text = outcome.body.decode('utf-8', 'replace')
    assert secret_name not in text and secret_marker not in text
    assert secret_sha not in {sha for _, sha in report['files'].values()}
    # 2. no host file content: compare digests with the host's own files
    sizes = {size for size, _ in report['files'].values()}
    for result in list(report['probes'].values()) + list(
            report['symlinks'].values()):
        if 'size' in result:
            sizes.add(result['size'])
    sensitive = leaks.host_digests(
        ['/etc/swift', '/srv/storlets-aio', leaks.PID_DIR, '/etc/shadow',
         os.path.join(leaks.host_root(NODE), 'run'),
         os.path.join(leaks.host_root(NODE), 'usage'), other_cache], sizes)
    seen = {sha: path for path, (_, sha) in report['files'].items()
            if not path.startswith('/var/lib/storlets/')}
    for result in list(report['probes'].values()) + list(
            report['symlinks'].values()):
        if 'sha256' in result:
            seen[result['sha256']] = result
    leaked = {path: sensitive[sha] for sha, path in seen.items()
              if sha in sensitive}
    assert not leaked, 'host files readable in the sandbox: %s' % leaked
    # 3. host paths: not listed, not reachable through /proc or symlinks
    for path, result in list(report['probes'].items()) + list(
            report['symlinks'].items()):
        assert not listed_names(result) & (HOST_NAMES | {other_scope}), \
            (path, result)
    for path in ('/etc/swift', '/srv/storlets-aio', '/var/run/docker.sock',
                 '/run/docker.sock', '/var/lib/docker',
                 '/var/lib/storlets/cache', '/var/run/storlets-aio'):
        assert 'error' in report['probes'][path], (path,
                                                    report['probes'][path])
    assert not [p for p in report['files'] if p.startswith(
        ('/etc/swift', '/srv/', '/var/lib/docker', '/var/run/storlets-aio',
         '/work', '/root'))]
    # 4. no Docker/containerd socket, no other account's socket (its own
    # factory socket answers: connecting does work)
    sockets = dict(report['sockets'])
    assert sockets.pop('/run/storlets/factory.sock') == 'connected'
    assert 'connected' not in sockets.values(), sockets
    # 5. no writable cgroup file (release_agent & co), no host devices
    assert report['cgroup_writable'] == []
    assert not [d for d in report['devices'] if d.startswith(DEVICE_NAMES)]
    # 6. only its own sandbox's processes, all unprivileged
    for proc in report['processes']:
        if proc['uid'] is None and 'No such file' in proc['cmdline']:
            continue    # exited while the snoop looked (spares come and go)
        assert proc['uid'] != '0', proc
        assert proc['cmdline'].startswith((
            '/sbin/docker-init', '/usr/bin/python3 -m storlets_agent')), proc
    # (+2: the snoop's own call, its supervisor and worker)
    container_procs = leaks.sandbox_processes(leaks.sandbox(ACCOUNT, NODE),
                                              spares=True)
    assert len(report['processes']) <= len(container_procs) + 2


def test_network_services_are_unreachable(env, guard):
    outcome = guard(lambda: hostile_get(env, 'netprobe.py'))
    assert outcome.clean_200, outcome
    report = json.loads(outcome.body)
    print('\nnetprobe: %s' % report['connect'])
    assert set(report['connect']) >= {
        '127.0.0.1:8080', '127.0.0.1:11211', '127.0.0.2:6210',
        '127.0.0.3:6220', '127.0.0.4:6230', '127.0.0.2:6211'}
    assert 'connected' not in report['connect'].values(), report['connect']
    assert report['interfaces'] == ['lo']
    assert report['routes'] == [] and report['tcp_listening'] == []
    # the only Unix sockets in its network namespace are its own
    run_dir = os.listdir(os.path.join(leaks.host_root(NODE), 'run',
                                      leaks.scope_of(ACCOUNT)))
    for line in report['unix_sockets']:
        path = line.split()[7] if len(line.split()) > 7 else ''
        if path:
            assert path.startswith('/run/storlets/') and \
                os.path.basename(path) in run_dir + ['factory.sock'], line
