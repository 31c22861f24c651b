"""The Docker gateway: one hardened, long-lived sandbox container per account.

This is the only module that imports ``docker``; Docker errors are turned into
``SandboxError`` here. The hot path makes no Docker API call: an invocation
connects straight to the warm daemon's socket; only when nobody listens does
the gateway ask the sandbox's factory to start the daemon, and only when the
factory does not answer does it (re)start the container.

Host layout under ``host_root`` (default ``/var/lib/storlets``)::

    cache/<scope>/<key>/...   storlet code, mounted read-only at /var/lib/storlets
    run/<scope>/              sockets, mounted at /run/storlets

``scope`` is a hash of the whole account name, so two accounts never share a
sandbox, a cache or a socket.
"""
import hashlib
import os
import time
from dataclasses import dataclass

import docker
import docker.errors
import eventlet
from docker.types import Mount

from storlets.errors import SandboxError, StorletRuntimeError
from storlets.gateway import execution
from storlets.gateway.base import Gateway
from storlets.gateway.cache import CodeCache
from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

SANDBOX_RUN_DIR = '/run/storlets'
SANDBOX_CODE_DIR = '/var/lib/storlets'
LABEL = 'managed_by'
LABEL_VALUE = 'storlets'


def scope_of(account):
    """Sandbox identity of an account: a hash of the whole name."""
    return hashlib.sha256(account.encode('utf-8')).hexdigest()[:24]


def container_name(scope):
    return 'storlets-%s' % scope


def _float(conf, key, default):
    return float(conf.get(key, default))


def _int(conf, key, default):
    return int(conf.get(key, default))


@dataclass(frozen=True)
class DockerGatewayConfig:
    """The gateway config file's ``[DEFAULT]`` options, parsed once."""
    host_root: str = '/var/lib/storlets'
    sandbox_image: str = 'storlets-sandbox:latest'
    storlet_timeout: float = 40.0
    sandbox_start_timeout: float = 10.0
    sandbox_user: str = '10001:10001'
    container_mem_limit: str = '512m'
    container_pids_limit: int = 256
    container_cpus: float = 1.0
    container_tmpfs_size: str = '64m'

    OPTIONS = ('host_root', 'sandbox_image', 'storlet_timeout',
               'sandbox_start_timeout', 'sandbox_user', 'container_mem_limit',
               'container_pids_limit', 'container_cpus',
               'container_tmpfs_size')

    @classmethod
    def from_conf(cls, conf):
        d = cls()
        return cls(
            host_root=conf.get('host_root', d.host_root),
            sandbox_image=conf.get('sandbox_image', d.sandbox_image),
            storlet_timeout=_float(conf, 'storlet_timeout', d.storlet_timeout),
            sandbox_start_timeout=_float(conf, 'sandbox_start_timeout',
                                         d.sandbox_start_timeout),
            sandbox_user=conf.get('sandbox_user', d.sandbox_user),
            container_mem_limit=conf.get('container_mem_limit',
                                         d.container_mem_limit),
            container_pids_limit=_int(conf, 'container_pids_limit',
                                      d.container_pids_limit),
            container_cpus=_float(conf, 'container_cpus', d.container_cpus),
            container_tmpfs_size=conf.get('container_tmpfs_size',
                                          d.container_tmpfs_size))

    @property
    def uid_gid(self):
        """(uid, gid) the sandbox runs as."""
        if os.geteuid() != 0:
            # A non-root Swift cannot chown files to another user: run the
            # sandbox as the Swift user itself (never root).
            return os.getuid(), os.getgid()
        uid, _, gid = self.sandbox_user.partition(':')
        return int(uid), int(gid or uid)


def container_run_kwargs(conf, scope):
    """The ``containers.run`` arguments of a scope's sandbox (hardened)."""
    uid, gid = conf.uid_gid
    return dict(
        image=conf.sandbox_image,
        name=container_name(scope),
        detach=True,
        init=True,
        user='%d:%d' % (uid, gid),
        network_mode='none',
        read_only=True,
        cap_drop=['ALL'],
        security_opt=['no-new-privileges:true'],
        tmpfs={'/tmp': 'rw,nosuid,nodev,noexec,size=%s,mode=1777'
               % conf.container_tmpfs_size},
        mem_limit=conf.container_mem_limit,
        memswap_limit=conf.container_mem_limit,
        pids_limit=conf.container_pids_limit,
        nano_cpus=int(conf.container_cpus * 1e9),
        ipc_mode='private',
        mounts=[
            Mount(SANDBOX_CODE_DIR,
                  os.path.join(conf.host_root, 'cache', scope),
                  type='bind', read_only=True),
            Mount(SANDBOX_RUN_DIR, os.path.join(conf.host_root, 'run', scope),
                  type='bind', read_only=False),
        ],
        labels={LABEL: LABEL_VALUE, 'storlets.scope': scope},
    )


class DockerStorletGateway(Gateway):

    def __init__(self, conf=None, logger=None, docker_client=None):
        super().__init__(conf, logger)
        self.config = DockerGatewayConfig.from_conf(self.conf)
        uid_gid = self.config.uid_gid
        self.cache = CodeCache(
            os.path.join(self.config.host_root, 'cache'),
            owner=uid_gid if os.geteuid() == 0 else None)
        self._client = docker_client

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as err:
                raise SandboxError('Cannot reach Docker: %s' % err)
        return self._client

    def run_dir(self, scope):
        return os.path.join(self.config.host_root, 'run', scope)

    # -- invocation ---------------------------------------------------------

    def invoke(self, invocation, code_source):
        scope = scope_of(invocation.account)
        storlet = invocation.storlet
        if storlet.language != 'python':
            raise StorletRuntimeError(
                'Unsupported storlet language: %s' % storlet.language)
        key = self.cache.ensure(scope, invocation.account, storlet,
                                code_source)
        socket_path = os.path.join(self.run_dir(scope), 'd-%s.sock' % key)
        exec_path = '%s/%s' % (SANDBOX_CODE_DIR, key)
        timeout = self.config.storlet_timeout
        try:
            return execution.execute(socket_path, invocation, exec_path,
                                     timeout)
        except OSError:
            pass  # no warm daemon for this version yet
        self._start_daemon(scope, key, storlet, exec_path)
        try:
            return execution.execute(socket_path, invocation, exec_path,
                                     timeout)
        except OSError as err:
            raise SandboxError('Cannot reach storlet daemon: %s' % err)

    def _start_daemon(self, scope, key, storlet, exec_path):
        request = {'cmd': 'start_daemon', 'daemon': {
            'key': key, 'name': storlet.name, 'language': storlet.language,
            'language_version': storlet.language_version,
            'main': storlet.main, 'path': exec_path}}
        factory = os.path.join(self.run_dir(scope), 'factory.sock')
        timeout = self.config.storlet_timeout
        try:
            reply = channel.call(factory, request, timeout=timeout)
        except (OSError, TimeoutError, ProtocolError):
            self.ensure_sandbox(scope)
            try:
                reply = channel.call(factory, request, timeout=timeout)
            except (OSError, TimeoutError, ProtocolError) as err:
                raise SandboxError('Storlet factory failed: %s' % err)
        if not reply.get('ok'):
            raise StorletRuntimeError(
                reply.get('error') or 'Cannot start storlet daemon')

    # -- sandbox lifecycle ----------------------------------------------------

    def ensure_sandbox(self, scope):
        """Start the scope's container unless its factory answers."""
        factory = os.path.join(self.run_dir(scope), 'factory.sock')
        if self._ping(factory):
            return
        self._prepare_dirs(scope)
        name = container_name(scope)
        try:
            try:
                old = self.client.containers.get(name)
            except docker.errors.NotFound:
                pass
            else:
                old.remove(force=True)
            self.client.containers.run(
                **container_run_kwargs(self.config, scope))
        except docker.errors.APIError as err:
            if err.status_code != 409:   # 409: another worker won the race
                raise SandboxError('Cannot start sandbox %s: %s'
                                   % (name, err.explanation or err))
        except docker.errors.DockerException as err:
            raise SandboxError('Cannot start sandbox %s: %s' % (name, err))
        deadline = time.monotonic() + self.config.sandbox_start_timeout
        while time.monotonic() < deadline:
            if self._ping(factory):
                return
            eventlet.sleep(0.02)
        raise SandboxError('Sandbox %s did not start within %ss'
                           % (name, self.config.sandbox_start_timeout))

    def _prepare_dirs(self, scope):
        run = self.run_dir(scope)
        os.makedirs(run, mode=0o700, exist_ok=True)
        os.makedirs(self.cache.scope_dir(scope), mode=0o755, exist_ok=True)
        for stale in os.listdir(run):
            os.unlink(os.path.join(run, stale))
        if os.geteuid() == 0:
            os.chown(run, *self.config.uid_gid)

    @staticmethod
    def _ping(path):
        try:
            return channel.call(path, {'cmd': 'ping'}, timeout=2).get('ok')
        except (OSError, TimeoutError, ProtocolError):
            return False
