"""Two storlet-enabled accounts (AUTH_test, AUTH_test4) on one node.

Seen from inside (the snoop and netprobe storlets of
tests/functional/storlets/hostile/, run in both accounts at once while a
recognisable process runs in each): neither sees the other's code,
processes or sockets. Seen from outside (the Docker API): one container per
account with its own mounts, and each container set up as the CIS Docker
Benchmark v1.6 section 5 (container runtime) asks, where it applies.
"""
import json
import os
import threading
import time
import uuid

import pytest

from tests.functional import leaks
from tests.functional.conftest import STORLETS_DIR, connection, deploy

ACCOUNTS = {'AUTH_test': 'tester', 'AUTH_test4': 'tester4'}
HOSTILE_DIR = os.path.join(STORLETS_DIR, 'hostile')
PROBES = {'snoop.py': 'SnoopStorlet', 'netprobe.py': 'NetprobeStorlet',
          'marker_process.py': 'MarkerProcessStorlet'}
MARKER_SECONDS = 8
#: the storage node that runs these object-side calls (read first)
NODE = leaks.OBJECT_NODE


def other(account):
    return [a for a in ACCOUNTS if a != account][0]


class Side:
    """One account's view: connection, container, planted secret, reports."""

    def __init__(self, account):
        self.account = account
        self.scope = leaks.scope_of(account)
        self.conn = connection(ACCOUNTS[account])
        self.container = 'isolation-' + uuid.uuid4().hex[:10]
        self.marker = 'isolation-marker-%s' % uuid.uuid4().hex
        self.marker_body = None
        self.secret = None          # (name, marker, sha256)
        self.snoop = None
        self.netprobe = None
        self.host_cache = None      # host listings taken during the snoop
        self.host_run = None
        self.top = None             # docker top during the snoop

    def get(self, storlet, params=None):
        headers = {'X-Run-Storlet': storlet}
        for i, (k, v) in enumerate((params or {}).items()):
            headers['X-Storlet-Parameter-%d' % i] = '%s:%s' % (k, v)
        return self.conn.get_object(self.container, 'o', headers=headers)[1]


def _wait_for_marker(side, deadline):
    while time.monotonic() < deadline:
        container = leaks.sandbox(side.account, NODE)
        if container and any(side.marker in proc[3] for proc in
                             leaks.sandbox_processes(container)):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope='module')
def sides():
    sides = {account: Side(account) for account in ACCOUNTS}
    for side in sides.values():
        for module, cls in PROBES.items():
            with open(os.path.join(HOSTILE_DIR, module), 'rb') as f:
                deploy(side.conn, None, '%s.%s' % (module[:-3], cls),
                       name=module, source=f.read())
        side.conn.put_container(side.container)
        side.conn.put_object(side.container, 'o', b'isolation input\n')
        side.secret = leaks.plant_secret_storlet(side.conn, side.account)
    # A recognisable process runs in each sandbox while both snoop.
    threads = []
    for side in sides.values():
        def mark(side=side):
            side.marker_body = side.get('marker_process.py', {
                'marker': side.marker, 'seconds': MARKER_SECONDS})
        threads.append(threading.Thread(target=mark, daemon=True))
        threads[-1].start()
    deadline = time.monotonic() + MARKER_SECONDS - 2
    markers_up = all(_wait_for_marker(side, deadline)
                     for side in sides.values())
    for side in sides.values():
        # host listings just before and after: a daemon replaced meanwhile
        # (re-deployed storlet) removes its socket
        run_dir = os.path.join(leaks.host_root(NODE), 'run', side.scope)
        side.host_run = set(os.listdir(run_dir))
        side.top = leaks.sandbox_processes(leaks.sandbox(side.account, NODE))
        side.netprobe = json.loads(side.get('netprobe.py'))
        side.snoop = json.loads(side.get('snoop.py', {
            'other_scope': leaks.scope_of(other(side.account))}))
        side.host_cache = os.listdir(os.path.join(
            leaks.host_root(NODE), 'cache', side.scope))
        side.host_run |= set(os.listdir(run_dir))
    for thread in threads:
        thread.join(MARKER_SECONDS + 30)
    assert markers_up, 'the marker processes did not show up in time'
    yield sides
    for side in sides.values():
        side.conn.delete_object(side.container, 'o')
        side.conn.delete_container(side.container)
        for name in list(PROBES) + [side.secret[0]]:
            side.conn.delete_object('storlet', name)
        side.conn.close()


@pytest.fixture(params=list(ACCOUNTS), ids=lambda a: 'from_' + a)
def pair(request, sides):
    """(this account's side, the other account's side)."""
    return sides[request.param], sides[other(request.param)]


# -- from outside -------------------------------------------------------------

def test_each_account_has_its_own_sandbox(sides):
    containers = {a: leaks.sandbox(a, NODE) for a in ACCOUNTS}
    assert all(containers.values()), containers
    ids = {c.id for c in containers.values()}
    assert len(ids) == len(ACCOUNTS)
    mounts = {}
    for account, container in containers.items():
        scope = leaks.scope_of(account)
        assert container.name == leaks.container_name(account, NODE)
        assert container.labels.get('managed_by') == 'storlets'
        assert container.labels.get('storlets.scope') == scope
        mounts[account] = {(m['Source'], m['Destination'], m['RW'])
                           for m in container.attrs['Mounts']}
        root = leaks.host_root(NODE)
        assert mounts[account] == {
            (os.path.join(root, 'cache', scope), '/var/lib/storlets', False),
            (os.path.join(root, 'run', scope), '/run/storlets', True)}
    sources = [{m[0] for m in mounts[a]} for a in ACCOUNTS]
    assert not sources[0] & sources[1]


def test_same_storlet_name_runs_each_accounts_own_code(sides):
    name = 'isolation_same_%s.py' % uuid.uuid4().hex[:8]
    template = ('class SameStorlet(object):\n'
                '    def __init__(self, logger):\n        pass\n\n'
                '    def __call__(self, in_files, out_files, params):\n'
                '        out_files[0].set_metadata({})\n'
                '        out_files[0].write(b"%s")\n'
                '        out_files[0].close()\n')
    expected = {}
    try:
        for account, side in sides.items():
            expected[account] = ('code of %s %s' % (
                account, uuid.uuid4().hex)).encode()
            deploy(side.conn, None, name[:-3] + '.SameStorlet', name=name,
                   source=(template % expected[account].decode()).encode())
        results = []

        def run(side):
            results.append((side.account, side.get(name)))
        for _ in range(3):   # interleaved and concurrent calls
            threads = [threading.Thread(target=run, args=(side,))
                       for side in sides.values()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert len(results) == 3 * len(sides)
        for account, body in results:
            assert body == expected[account], account
    finally:
        for side in sides.values():
            side.conn.delete_object('storlet', name)


# -- from inside --------------------------------------------------------------

def test_code_of_the_other_account_is_invisible(pair):
    me, them = pair
    report = me.snoop
    # what it lists is its own cache (the mount works), none of theirs
    assert report['code_dir'] and set(report['code_dir']) <= \
        set(me.host_cache)
    assert not set(report['code_dir']) & set(them.host_cache)
    # their secret is on this node, but nowhere in what this one sees
    name, marker, sha = them.secret
    assert any(name in files for _, _, files in os.walk(os.path.join(
        leaks.host_root(NODE), 'cache', them.scope)))
    text = json.dumps(report)
    assert name not in text and marker not in text
    assert sha not in {digest for _, digest in report['files'].values()}
    # while its own secret is readable, by name and content
    own_name, _, own_sha = me.secret
    own = [p for p in report['files'] if p.endswith('/' + own_name)]
    assert own and report['files'][own[0]][1] == own_sha
    # and nothing under /var/lib/storlets belongs to another scope
    for path in report['files']:
        if path.startswith('/var/lib/storlets/'):
            assert path.split('/')[4] in me.host_cache, path
    for result in report['probes'].values():
        assert them.scope not in result.get('dir', []), result


def test_processes_of_the_other_account_are_invisible(pair):
    me, them = pair
    cmdlines = [p['cmdline'] for p in me.snoop['processes']]
    # the other's marker process ran (docker top of its sandbox shows it)
    assert any(them.marker in proc[3] for proc in them.top)
    assert not any(them.marker in c for c in cmdlines), cmdlines
    # control: its own marker process, running meanwhile, is visible
    assert any(me.marker in c for c in cmdlines), cmdlines
    # what it sees is a sandbox: pid 1 is docker-init, no host process
    assert [p for p in me.snoop['processes'] if p['pid'] == 1][0][
        'cmdline'].startswith('/sbin/docker-init')
    for cmdline in cmdlines:
        assert not any(name in cmdline for name in (
            'swift-', 'dockerd', 'containerd', 'memcached', 'sshd')), cmdline
    assert me.marker_body == b'started\ndone\n'


def test_sockets_of_the_other_account_are_unreachable(pair):
    me, them = pair
    sockets = dict(me.snoop['sockets'])
    # control: its own factory socket answers
    assert sockets.pop('/run/storlets/factory.sock') == 'connected'
    assert 'connected' not in sockets.values(), sockets
    assert any(them.scope in path for path in sockets)
    # its run directory is its own: their daemon sockets are not there
    own = set(me.snoop['own_run_dir'])
    assert 'factory.sock' in own and own <= me.host_run
    theirs = them.host_run - {'factory.sock'}
    assert theirs and not own & theirs
    # the Unix sockets of its network namespace are its own ones only
    for line in me.netprobe['unix_sockets']:
        fields = line.split()
        if len(fields) > 7:
            assert fields[7].startswith('/run/storlets/'), line
            assert os.path.basename(fields[7]) not in theirs, line


# -- the Docker API view: CIS Docker Benchmark v1.6, section 5 ----------------

@pytest.fixture(params=list(ACCOUNTS))
def inspected(request, sides):
    container = leaks.sandbox(request.param, NODE)
    assert container is not None
    container.reload()
    return request.param, container.attrs


def test_cis_5_runtime_configuration(inspected):
    account, attrs = inspected
    host = attrs['HostConfig']
    config = attrs['Config']
    scope = leaks.scope_of(account)
    security_opt = host.get('SecurityOpt') or []
    problems = []

    def check(item, ok, got):
        if not ok:
            problems.append('%s: %r' % (item, got))

    # 5.1 / 5.21 AppArmor and seccomp not disabled
    check('5.1 apparmor', not any('apparmor' in o and 'unconfined' in o
                                  for o in security_opt)
          and attrs.get('AppArmorProfile') != 'unconfined',
          (security_opt, attrs.get('AppArmorProfile')))
    daemon_security = ' '.join(leaks.docker_client().info().get(
        'SecurityOptions') or [])
    if 'apparmor' in daemon_security:
        check('5.1 apparmor profile', attrs.get('AppArmorProfile'),
              attrs.get('AppArmorProfile'))
    check('5.21 seccomp', 'seccomp' in daemon_security and not any(
        'seccomp' in o and 'unconfined' in o for o in security_opt),
        (daemon_security, security_opt))
    # 5.3 capabilities, 5.4 privileged, 5.25 no-new-privileges
    check('5.3 CapDrop ALL', 'ALL' in (host.get('CapDrop') or []),
          host.get('CapDrop'))
    check('5.3 CapAdd', not host.get('CapAdd'), host.get('CapAdd'))
    check('5.4 Privileged', host.get('Privileged') is False,
          host.get('Privileged'))
    check('5.25 no-new-privileges', any(
        o.replace('=', ':') in ('no-new-privileges', 'no-new-privileges:true')
        for o in security_opt), security_opt)
    # 5.5 / 5.31 mounts: only the account's cache (ro) and run dir
    root = leaks.host_root(NODE)
    mounts = {(m['Source'], m['Destination'], m['RW'])
              for m in attrs['Mounts']}
    check('5.5 mounts', mounts == {
        (os.path.join(root, 'cache', scope), '/var/lib/storlets', False),
        (os.path.join(root, 'run', scope), '/run/storlets', True)}, mounts)
    check('5.5 binds', not host.get('Binds'), host.get('Binds'))
    check('5.31 docker.sock', not any('docker.sock' in m[0] or 'containerd'
                                      in m[0] for m in mounts), mounts)
    # 5.19 mount propagation not shared
    check('5.19 propagation', not any(
        m.get('Propagation') in ('shared', 'rshared')
        for m in attrs['Mounts']), attrs['Mounts'])
    # 5.7 / 5.8 / 5.13 no ports at all (so no privileged ones)
    check('5.7 ports', not host.get('PortBindings')
          and not host.get('PublishAllPorts')
          and not config.get('ExposedPorts'),
          (host.get('PortBindings'), config.get('ExposedPorts')))
    # 5.9 / 5.29 network: none
    check('5.9 NetworkMode', host.get('NetworkMode') == 'none',
          host.get('NetworkMode'))
    # 5.10 memory, 5.11 CPU, 5.28 pids
    check('5.10 Memory', (host.get('Memory') or 0) > 0, host.get('Memory'))
    check('5.10 MemorySwap == Memory',
          host.get('MemorySwap') == host.get('Memory'),
          host.get('MemorySwap'))
    check('5.11 NanoCpus', (host.get('NanoCpus') or 0) > 0
          or (host.get('CpuQuota') or 0) > 0, host.get('NanoCpus'))
    check('5.28 PidsLimit', (host.get('PidsLimit') or 0) > 0,
          host.get('PidsLimit'))
    # 5.12 read-only root file system
    check('5.12 ReadonlyRootfs', host.get('ReadonlyRootfs') is True,
          host.get('ReadonlyRootfs'))
    # 5.14 no restart policy that restarts for ever
    policy = host.get('RestartPolicy') or {}
    check('5.14 RestartPolicy', policy.get('Name') in ('', 'no', None) or (
        policy.get('Name') == 'on-failure'
        and 0 < policy.get('MaximumRetryCount', 0) <= 5), policy)
    # 5.15 / 5.16 / 5.20 / 5.30 namespaces not shared with the host
    for key in ('PidMode', 'IpcMode', 'UTSMode', 'UsernsMode'):
        check('namespaces %s' % key, host.get(key) != 'host'
              and not str(host.get(key)).startswith('container:'),
              host.get(key))
    # 5.17 no host devices
    check('5.17 Devices', not host.get('Devices')
          and not host.get('DeviceCgroupRules')
          and not host.get('DeviceRequests'), host.get('Devices'))
    # 5.24 default cgroup parent
    check('5.24 CgroupParent', not host.get('CgroupParent'),
          host.get('CgroupParent'))
    # user: never root
    user = config.get('User') or ''
    check('user not root', user and user.split(':')[0] not in ('0', 'root'),
          user)
    # /tmp is the only writable file system besides the run dir
    check('tmpfs', set(host.get('Tmpfs') or {}) <= {'/tmp'} and all(
        'nosuid' in o and 'nodev' in o and 'noexec' in o
        for o in (host.get('Tmpfs') or {}).values()), host.get('Tmpfs'))
    # the image the operator configured
    check('image', config.get('Image') == leaks.sandbox_image(account),
          config.get('Image'))
    assert not problems, '%s: %s' % (account, '; '.join(problems))
