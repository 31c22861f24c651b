"""The docker gateway's sandbox arguments and lifecycle, with a fake client
that records calls (no dockerd needed)."""
import os

import docker.errors
import pytest

from storlets.errors import SandboxError

from storlets.gateway.docker import (
    DockerGatewayConfig, DockerStorletGateway, container_name,
    container_run_kwargs, scope_of)


class FakeContainer:
    def __init__(self, owner, name, scope, status='running'):
        self.owner, self.name, self.status = owner, name, status
        self.labels = {'managed_by': 'storlets', 'storlets.scope': scope}

    def remove(self, force=False):
        self.owner.removed.append(self.name)
        self.owner.existing.pop(self.name, None)


class FakeContainers:
    def __init__(self):
        self.run_calls = []
        self.removed = []
        self.existing = {}

    def add(self, scope, status='running'):
        name = container_name(scope)
        self.existing[name] = FakeContainer(self, name, scope, status)

    def get(self, name):
        if name not in self.existing:
            raise docker.errors.NotFound('no such container')
        return self.existing[name]

    def list(self, filters=None):
        return [c for c in self.existing.values() if c.status == 'running']

    def run(self, **kwargs):
        self.run_calls.append(kwargs)
        scope = kwargs['labels']['storlets.scope']
        self.add(scope)


class FakeDockerClient:
    def __init__(self):
        self.containers = FakeContainers()


def test_scope_hashes_the_whole_account():
    a = scope_of('AUTH_test_account_1')
    b = scope_of('AUTH_test_account_2')
    assert a != b
    assert len(a) == 24 and all(c in '0123456789abcdef' for c in a)
    assert container_name(a) == 'storlets-' + a


def test_sandbox_is_hardened_by_default(tmp_path):
    conf = DockerGatewayConfig.from_conf({'host_root': str(tmp_path),
                                          'sandbox_image': 'img:1'})
    kw = container_run_kwargs(conf, 'abc')
    assert kw['image'] == 'img:1'
    assert kw['network_mode'] == 'none'
    assert kw['read_only'] is True
    assert kw['cap_drop'] == ['ALL']
    assert kw['security_opt'] == ['no-new-privileges:true']
    assert not kw['user'].startswith('0:') and kw['user'] != '0'
    assert kw['mem_limit'] == '512m' and kw['memswap_limit'] == '512m'
    assert kw['pids_limit'] == 256
    assert kw['nano_cpus'] == 10 ** 9
    assert 'size=64m' in kw['tmpfs']['/tmp']
    assert 'privileged' not in kw
    mounts = {m['Target']: m for m in kw['mounts']}
    assert set(mounts) == {'/var/lib/storlets', '/run/storlets'}
    code = mounts['/var/lib/storlets']
    assert code['Source'] == os.path.join(str(tmp_path), 'cache', 'abc')
    assert code['ReadOnly'] is True
    assert mounts['/run/storlets']['Source'] == os.path.join(
        str(tmp_path), 'run', 'abc')


def test_limits_are_configurable(tmp_path):
    conf = DockerGatewayConfig.from_conf({
        'host_root': str(tmp_path), 'container_mem_limit': '1g',
        'container_pids_limit': '64', 'container_cpus': '0.5',
        'container_tmpfs_size': '8m', 'max_scratch_mb': '2',
        'calls_per_worker': '7'})
    kw = container_run_kwargs(conf, 'abc')
    assert kw['entrypoint'][-4:] == ['--max-scratch-size',
                                     str(2 * 1024 * 1024),
                                     '--calls-per-worker', '7']
    assert kw['mem_limit'] == '1g'
    assert kw['pids_limit'] == 64
    assert kw['nano_cpus'] == 5 * 10 ** 8
    assert 'size=8m' in kw['tmpfs']['/tmp']


def gateway(tmp_path, client, sections=None, **conf):
    conf = dict({'host_root': str(tmp_path), 'sandbox_start_timeout': '0.1'},
                **conf)
    return DockerStorletGateway(conf, docker_client=client,
                                sections=sections)


def test_ensure_sandbox_starts_container_then_times_out_without_factory(
        tmp_path):
    client = FakeDockerClient()
    gw = gateway(tmp_path, client)
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('AUTH_x')
    (kw,) = client.containers.run_calls
    scope = scope_of('AUTH_x')
    assert kw['name'] == 'storlets-' + scope
    assert kw['auto_remove'] is True
    assert kw['entrypoint'] == ['/usr/bin/python3', '-m', 'storlets_agent',
                                'factory', '--runtime-dir', '/run/storlets',
                                '--daemon-idle-timeout', '600.0',
                                '--idle-timeout', '30.0',
                                '--max-java-daemons', '4',
                                '--java-threads', '16',
                                '--scratch-root', '/tmp',
                                '--max-scratch-size', str(32 * 1024 * 1024),
                                '--calls-per-worker', '100']
    assert kw['environment']['PYTHONPATH'] == '/opt/storlets'
    assert os.path.isdir(os.path.join(str(tmp_path), 'run', scope))


def test_a_dead_container_is_removed_before_a_new_start(tmp_path):
    client = FakeDockerClient()
    client.containers.add(scope_of('AUTH_x'), status='exited')
    gw = gateway(tmp_path, client)
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('AUTH_x')
    assert client.containers.removed == ['storlets-' + scope_of('AUTH_x')]
    assert len(client.containers.run_calls) == 1


def test_max_containers_stops_the_least_recently_used(tmp_path):
    client = FakeDockerClient()
    gw = gateway(tmp_path, client, max_containers_per_node='2')
    old, recent = scope_of('AUTH_old'), scope_of('AUTH_recent')
    client.containers.add(old)
    client.containers.add(recent)
    gw._mark_used(old)
    usage = gw.usage_file(old)
    os.utime(usage, (1000, 1000))
    gw._mark_used(recent)
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('AUTH_new')
    assert client.containers.removed == ['storlets-' + old]
    assert set(client.containers.existing) == {
        'storlets-' + recent, 'storlets-' + scope_of('AUTH_new')}


def test_per_account_overrides(tmp_path):
    client = FakeDockerClient()
    gw = gateway(tmp_path, client, sections={
        'account:AUTH_big': {'container_mem_limit': '2g',
                             'sandbox_image': 'custom:1'}})
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('AUTH_big')
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('AUTH_small')
    big, small = client.containers.run_calls
    assert big['mem_limit'] == '2g' and big['image'] == 'custom:1'
    assert small['mem_limit'] == '512m'
    assert small['image'] == 'storlets-sandbox:latest'


@pytest.mark.parametrize('conf', [
    {'storlet_timeout': '0'}, {'container_pids_limit': '-1'},
    {'container_cpus': 'lots'}, {'max_containers_per_node': 'x'},
    {'max_scratch_mb': '-1'}, {'calls_per_worker': '0'},
    {'node_name': 'a b'}, {'node_name': '-x'},
    {'node_name': 'n/1'}, {'node_name': 'x' * 33}])
def test_bad_gateway_options_fail_at_load(tmp_path, conf):
    with pytest.raises(ValueError):
        gateway(tmp_path, FakeDockerClient(), **conf)


def test_unknown_per_account_option_fails_at_load(tmp_path):
    with pytest.raises(ValueError):
        gateway(tmp_path, FakeDockerClient(), sections={
            'account:AUTH_x': {'host_root': '/elsewhere'}})
