"""The docker gateway's sandbox arguments and lifecycle, with a fake client
that records calls (no dockerd needed)."""
import os

import docker.errors
import pytest

from storlets.gateway.docker import (
    DockerGatewayConfig, DockerStorletGateway, container_name,
    container_run_kwargs, scope_of)


class FakeContainers:
    def __init__(self):
        self.run_calls = []
        self.removed = []
        self.existing = {}

    def get(self, name):
        if name not in self.existing:
            raise docker.errors.NotFound('no such container')
        return self.existing[name]

    def run(self, **kwargs):
        self.run_calls.append(kwargs)


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
        'container_tmpfs_size': '8m'})
    kw = container_run_kwargs(conf, 'abc')
    assert kw['mem_limit'] == '1g'
    assert kw['pids_limit'] == 64
    assert kw['nano_cpus'] == 5 * 10 ** 8
    assert 'size=8m' in kw['tmpfs']['/tmp']


def test_ensure_sandbox_starts_container_then_times_out_without_factory(
        tmp_path):
    client = FakeDockerClient()
    gw = DockerStorletGateway({'host_root': str(tmp_path),
                               'sandbox_start_timeout': '0.1'},
                              docker_client=client)
    from storlets.errors import SandboxError
    with pytest.raises(SandboxError):
        gw.ensure_sandbox('abc')
    (kw,) = client.containers.run_calls
    assert kw['name'] == 'storlets-abc'
    assert os.path.isdir(os.path.join(str(tmp_path), 'run', 'abc'))
