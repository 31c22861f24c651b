"""The Docker gateway: one hardened, long-lived sandbox container per account.

This is the only module that imports ``docker``; Docker errors are turned into
``SandboxError`` here. The hot path makes no Docker API call: an invocation
connects straight to the warm daemon's socket; only when nobody listens does
the gateway ask the sandbox's factory to start the daemon, and only when the
factory does not answer does it (re)start the container.

Host layout under ``host_root`` (default ``/var/lib/storlets``)::

    cache/<scope>/<key>/...   storlet code, mounted read-only at
                              /var/lib/storlets
    run/<scope>/              sockets, mounted at /run/storlets
    usage/<scope>             its mtime: the scope's last call (for LRU)
    cache/.spare-<id>, run/.spare-<id>   a spare sandbox's, until claimed
    versions/<scope>/<key>    a cached version's name and last use
    locks/.node, locks/<scope>, trash/   see ``locks`` and ``cache``

Every Swift process of the node (proxies, object servers, their workers)
shares these and dockerd. ``max_containers_per_node`` holds across all of
them: sandboxes are counted, evicted and started under the node lock. A call
holds its scope's lock shared (and its version's directory) from before it
connects until its result is closed; eviction takes the victim's scope lock
exclusively without waiting, so a sandbox with a call in flight is never
stopped. When every other sandbox is busy, a cold start waits up to
``BUSY_WAIT`` seconds for one to become idle, then fails with
``SandboxBusy`` (a ``503`` with ``Retry-After``).

At most every ``cache_collect_interval`` seconds (node-wide), an invocation
spawns the collector in a green thread: cached versions (see ``cache``),
then, under the node lock, the directories of scopes without a running
sandbox, unused for ``cache_ttl`` seconds and not locked by a call.

``scope`` is a hash of the whole account name, so two accounts never share a
sandbox, a cache or a socket.

Spare sandboxes (``spare_sandboxes``, 0 by default): the node keeps that many
sandboxes started ahead of any account, named ``storlets-<node>-spare-<id>``
with their directories at ``cache/.spare-<id>`` and ``run/.spare-<id>``
(empty). An account with the default options and no sandbox claims one
instead of starting a container: under its scope lock (exclusively: no call
of the account in flight) and the node lock, its old directories go to the
trash (its code is fetched again), the spare's are renamed to the account's
(a bind mount follows the directory, not its name), the container is
renamed ``storlets-<node>-<scope>`` and its factory told the account's idle
timeout. A spare is claimed once, never shared, and its code directory was
empty: it holds only the claiming account's code, like any sandbox. A
green thread starts a new spare when fewer are alive; spares never evict an
account's sandbox, and are the first to go when a cold start needs room.

``node_name`` names the Swift node this gateway serves. Nodes that share one
dockerd (several storage nodes on one host, as in the all-in-one) must each
have their own ``node_name`` and ``host_root``: a node's sandboxes are
named ``storlets-<node>-<scope>`` and labelled ``storlets.node=<node>``, and
a node counts, evicts and collects only its own. With the default (empty)
name, sandboxes are ``storlets-<scope>``, for a node alone on its host.
"""
import hashlib
import os
import re
import time
import uuid
from dataclasses import dataclass, fields

import docker
import docker.errors
import eventlet
from docker.types import Mount

from storlets import languages, layout
from storlets.errors import SandboxBusy, SandboxError, StorletRuntimeError
from storlets.gateway import execution, locks
from storlets.gateway.base import Gateway
from storlets.gateway.cache import CodeCache
from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

LABEL = 'managed_by'
LABEL_VALUE = 'storlets'
NODE_LABEL = 'storlets.node'
SCOPE_LABEL = 'storlets.scope'
#: a spare sandbox's id (it keeps the label once claimed, and its scope
#: label stays empty: its name tells whose it is)
SPARE_LABEL = 'storlets.spare'
SPARE_PREFIX = 'spare-'
#: Seconds between two checks (per gateway) that the node has its spares.
SPARE_CHECK_INTERVAL = 5.0
#: What a ``node_name`` may be: a part of a Docker container name.
NODE_NAME = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$')
#: Seconds a cold start waits for a sandbox to become evictable when the
#: node is full of busy ones, before it fails with ``SandboxBusy``.
BUSY_WAIT = 2.0


def scope_of(account):
    """Sandbox identity of an account: a hash of the whole name."""
    return hashlib.sha256(account.encode('utf-8')).hexdigest()[:24]


def container_name(scope, node_name=''):
    """The Docker name of a scope's sandbox on the node ``node_name``."""
    if node_name:
        return 'storlets-%s-%s' % (node_name, scope)
    return 'storlets-%s' % scope


#: Options an operator may override per account, in ``[account:<name>]``.
ACCOUNT_OPTIONS = ('sandbox_image', 'sandbox_idle_timeout',
                   'container_mem_limit', 'container_pids_limit',
                   'container_cpus', 'container_tmpfs_size',
                   'max_java_daemons', 'java_threads', 'max_scratch_mb',
                   'calls_per_worker')


@dataclass(frozen=True)
class DockerGatewayConfig:
    """The gateway config file's ``[DEFAULT]`` options, parsed once.

    ``[account:<account name>]`` sections may override ``ACCOUNT_OPTIONS``
    for one account (a bigger memory limit, an image with extra packages).
    """
    host_root: str = '/var/lib/storlets'
    #: this node's name among the nodes sharing one dockerd ('' if alone)
    node_name: str = ''
    sandbox_image: str = 'storlets-sandbox:latest'
    storlet_timeout: float = 40.0
    sandbox_start_timeout: float = 10.0
    sandbox_idle_timeout: float = 600.0
    max_containers_per_node: int = 0
    sandbox_user: str = '10001:10001'
    container_mem_limit: str = '512m'
    container_pids_limit: int = 256
    container_cpus: float = 1.0
    container_tmpfs_size: str = '64m'
    #: MiB a call's scratch directory (in the tmpfs /tmp) may hold; 0: not
    #: measured (the tmpfs size still bounds the sandbox)
    max_scratch_mb: int = 32
    #: calls one Python worker process serves in turn (same storlet
    #: version, same account) before a fresh one replaces it; 1: a fresh
    #: process for every call
    calls_per_worker: int = 100
    max_java_daemons: int = 4
    java_threads: int = 16
    cache_ttl: float = 600.0
    cache_collect_interval: float = 60.0
    cache_max_versions: int = 50
    cache_max_mb: int = 1024
    #: sandboxes kept started ahead of any account, claimed at a cold start
    spare_sandboxes: int = 0

    OPTIONS = ('host_root', 'node_name', 'sandbox_image', 'storlet_timeout',
               'sandbox_start_timeout', 'sandbox_idle_timeout',
               'max_containers_per_node', 'sandbox_user',
               'container_mem_limit', 'container_pids_limit',
               'container_cpus', 'container_tmpfs_size', 'max_scratch_mb',
               'calls_per_worker', 'max_java_daemons', 'java_threads', 'cache_ttl',
               'cache_collect_interval', 'cache_max_versions',
               'cache_max_mb', 'spare_sandboxes')

    @classmethod
    def from_conf(cls, conf):
        """Parse (and check) the option strings; unknown keys are ignored."""
        values = {}
        for f in fields(cls):
            if f.name in conf:
                values[f.name] = f.type(conf[f.name]) \
                    if f.type in (int, float) else conf[f.name]
        config = cls(**values)
        if config.node_name and not NODE_NAME.match(config.node_name):
            raise ValueError('node_name must be 1-32 letters, digits, "_", '
                             '"." or "-", starting with a letter or digit')
        if config.storlet_timeout <= 0 or config.sandbox_start_timeout <= 0 \
                or config.sandbox_idle_timeout <= 0:
            raise ValueError('gateway timeouts must be positive')
        if config.container_pids_limit <= 0 or config.container_cpus <= 0:
            raise ValueError('container limits must be positive')
        if config.max_scratch_mb < 0:
            raise ValueError('max_scratch_mb must be >= 0')
        if config.calls_per_worker < 1:
            raise ValueError('calls_per_worker must be >= 1')
        if config.max_java_daemons < 0 or config.java_threads < 1:
            raise ValueError('max_java_daemons must be >= 0 and '
                             'java_threads >= 1')
        if config.cache_ttl <= 0 or config.cache_collect_interval <= 0:
            raise ValueError('cache_ttl and cache_collect_interval must be '
                             'positive')
        if config.spare_sandboxes < 0:
            raise ValueError('spare_sandboxes must be >= 0')
        if config.cache_max_versions < 0 or config.cache_max_mb < 0:
            raise ValueError('cache_max_versions and cache_max_mb must be '
                             '>= 0')
        return config

    def for_account(self, overrides):
        """This config with one account's ``[account:...]`` overrides."""
        unknown = set(overrides) - set(ACCOUNT_OPTIONS)
        if unknown:
            raise ValueError('options %s cannot be set per account'
                             % ', '.join(sorted(unknown)))
        merged = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        merged.update(overrides)
        return DockerGatewayConfig.from_conf(merged)

    @property
    def uid_gid(self):
        """(uid, gid) the sandbox runs as."""
        if os.geteuid() != 0:
            # A non-root Swift cannot chown files to another user: run the
            # sandbox as the Swift user itself (never root).
            return os.getuid(), os.getgid()
        uid, _, gid = self.sandbox_user.partition(':')
        return int(uid), int(gid or uid)


def spare_dir_name(spare):
    """The name of a spare's directories under cache/ and run/."""
    return '.' + SPARE_PREFIX + spare


def container_run_kwargs(conf, scope, spare=None):
    """The ``containers.run`` arguments of a scope's sandbox (hardened), or
    with ``spare`` (an id) and no scope, of a spare sandbox."""
    uid, gid = conf.uid_gid
    dirs = scope if spare is None else spare_dir_name(spare)
    labels = {LABEL: LABEL_VALUE, SCOPE_LABEL: scope or '',
              NODE_LABEL: conf.node_name}
    if spare is not None:
        labels[SPARE_LABEL] = spare
    return dict(
        image=conf.sandbox_image,
        name=container_name(scope if spare is None else SPARE_PREFIX + spare,
                            conf.node_name),
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
            Mount(layout.CODE_DIR,
                  os.path.join(conf.host_root, 'cache', dirs),
                  type='bind', read_only=True),
            Mount(layout.RUN_DIR, os.path.join(conf.host_root, 'run', dirs),
                  type='bind', read_only=False),
        ],
        labels=labels,
        auto_remove=True,
        environment={'PYTHONPATH': layout.AGENT_ROOT,
                     'PYTHONDONTWRITEBYTECODE': '1', 'PYTHONUNBUFFERED': '1'},
        # Daemons exit after sandbox_idle_timeout without calls; the factory
        # (and so the container) soon after its last daemon is gone. Each
        # call gets a private scratch directory under the tmpfs.
        entrypoint=layout.agent_command(
            daemon_idle_timeout=conf.sandbox_idle_timeout,
            # a spare waits for an account longer; claim() sets this one
            idle_timeout=(factory_idle_timeout(conf) if spare is None
                          else conf.sandbox_idle_timeout),
            max_java_daemons=conf.max_java_daemons,
            java_threads=conf.java_threads,
            scratch_root=layout.TMP_DIR,
            max_scratch_size=conf.max_scratch_mb * 1024 * 1024,
            calls_per_worker=conf.calls_per_worker),
    )


def factory_idle_timeout(conf):
    """Seconds an account's factory stays up after its last daemon."""
    return min(30.0, conf.sandbox_idle_timeout)


class DockerStorletGateway(Gateway):

    def __init__(self, conf=None, logger=None, docker_client=None,
                 sections=None):
        super().__init__(conf, logger)
        self.config = DockerGatewayConfig.from_conf(self.conf)
        #: per-account configs, from ``[account:<name>]`` sections
        self.account_configs = {
            name[len('account:'):]: self.config.for_account(values)
            for name, values in (sections or {}).items()
            if name.startswith('account:')}
        uid_gid = self.config.uid_gid
        self.cache = CodeCache(
            os.path.join(self.config.host_root, 'cache'),
            owner=uid_gid if os.geteuid() == 0 else None,
            touch_interval=min(5.0, self.config.cache_ttl / 4))
        self._client = docker_client
        self._last_touch = {}
        self._next_collection = 0.0
        self._collector = None
        self._next_spare_check = 0.0
        self._spare_filler = None

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

    def usage_file(self, scope):
        return os.path.join(self.config.host_root, 'usage', scope)

    def config_for(self, account):
        return self.account_configs.get(account, self.config)

    def lock_file(self, scope):
        return os.path.join(self.config.host_root, 'locks', scope)

    def node_lock(self, timeout):
        """The node-wide lock (a ``Held``), or None after ``timeout``."""
        return locks.acquire(
            os.path.join(self.config.host_root, 'locks', '.node'),
            exclusive=True, timeout=timeout)

    # -- invocation -----------------------------------------------------------

    def invoke(self, invocation, code_source):
        scope = scope_of(invocation.account)
        storlet = invocation.storlet
        if storlet.language not in languages.LANGUAGES:
            raise StorletRuntimeError(
                'Unsupported storlet language: %s' % storlet.language)
        self._maybe_collect()
        if self.config.spare_sandboxes:
            self._maybe_fill_spares()
            if self.config_for(invocation.account) is self.config:
                self._claim_spare_if_cold(scope)
        # The scope first, then the version: the order every locker keeps.
        in_flight = locks.acquire(self.lock_file(scope),
                                  timeout=self.config.sandbox_start_timeout)
        if in_flight is None:
            raise SandboxError('The sandbox stayed locked for %ss'
                               % self.config.sandbox_start_timeout)
        held = [in_flight]
        try:
            self._mark_used(scope)
            key, version = self.cache.acquire(
                scope, invocation.account, storlet, code_source,
                timeout=self.config.sandbox_start_timeout)
            held.append(version)
            result = self._execute(invocation, scope, key, storlet)
        except BaseException:
            for lock in held:
                lock.release()
            raise
        result.body = InFlight(result.body, held)
        return result

    def _execute(self, invocation, scope, key, storlet):
        socket_path = os.path.join(self.run_dir(scope),
                                   layout.daemon_socket(key))
        exec_path = '%s/%s' % (layout.CODE_DIR, key)
        timeout = self.config.storlet_timeout
        try:
            return execution.execute(socket_path, invocation, exec_path,
                                     timeout)
        except OSError:
            pass  # no warm daemon for this version yet
        self._start_daemon(invocation.account, scope, key, storlet,
                           exec_path)
        try:
            result = execution.execute(socket_path, invocation, exec_path,
                                       timeout)
        except OSError as err:
            raise SandboxError('Cannot reach storlet daemon: %s' % err)
        result.extra['cold_start'] = True
        return result

    def _mark_used(self, scope):
        """Record when a scope was last used (for LRU), at most every 5 s."""
        now = time.monotonic()
        if now - self._last_touch.get(scope, -10.0) < 5.0:
            return
        self._last_touch[scope] = now
        path = self.usage_file(scope)
        try:
            os.utime(path)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, 'a').close()

    def _start_daemon(self, account, scope, key, storlet, exec_path):
        request = {'cmd': 'start_daemon', 'daemon': {
            'key': key, 'name': storlet.name, 'language': storlet.language,
            'language_version': storlet.language_version,
            'main': storlet.main, 'path': exec_path}}
        factory = os.path.join(self.run_dir(scope), layout.FACTORY_SOCKET)
        timeout = self.config.storlet_timeout
        try:
            reply = channel.call(factory, request, timeout=timeout)
        except (OSError, TimeoutError, ProtocolError):
            self.ensure_sandbox(account)
            try:
                reply = channel.call(factory, request, timeout=timeout)
            except (OSError, TimeoutError, ProtocolError) as err:
                raise SandboxError('Storlet factory failed: %s' % err)
        if not reply.get('ok'):
            raise StorletRuntimeError(
                reply.get('error') or 'Cannot start storlet daemon')

    # -- sandbox lifecycle ----------------------------------------------------

    def ensure_sandbox(self, account):
        """Start the account's container unless its factory answers.

        Containers are auto-removed when their factory exits (idle), so a
        start may race with a removal or with another worker starting the
        same sandbox: both are retried until ``sandbox_start_timeout``.
        A node full of busy sandboxes is retried for ``BUSY_WAIT`` seconds,
        then ``SandboxBusy`` is raised.
        """
        scope = scope_of(account)
        conf = self.config_for(account)
        factory = os.path.join(self.run_dir(scope), layout.FACTORY_SOCKET)
        if self._ping(factory):
            return
        name = container_name(scope, conf.node_name)
        start = time.monotonic()
        deadline = start + conf.sandbox_start_timeout
        busy_deadline = start + min(BUSY_WAIT, conf.sandbox_start_timeout)
        started, busy = False, None
        while time.monotonic() < deadline:
            if not started:
                try:
                    started = self._try_start(conf, scope, deadline)
                    busy = None
                except SandboxBusy as err:
                    if time.monotonic() >= busy_deadline:
                        raise
                    busy = err
                    eventlet.sleep(0.2)
                    continue
            if self._ping(factory):
                return
            eventlet.sleep(0.005)
        if busy is not None:
            raise busy
        raise SandboxError('Sandbox %s did not start within %ss'
                           % (name, conf.sandbox_start_timeout))

    def _try_start(self, conf, scope, deadline):
        """One attempt to run the scope's container; True once it runs."""
        name = container_name(scope, conf.node_name)
        node = self.node_lock(max(0.0, deadline - time.monotonic()))
        if node is None:
            return False          # others are starting sandboxes: retry
        try:
            try:
                old = self.client.containers.get(name)
            except docker.errors.NotFound:
                pass
            else:
                if old.status == 'running':
                    return True   # starting up, or another worker won
                old.remove(force=True)
                return False      # retry once it is gone
            self._make_room(conf, scope)
            self._prepare_dirs(scope)
            self.client.containers.run(**container_run_kwargs(conf, scope))
            return True
        except docker.errors.NotFound:
            return False          # removed under our feet: retry
        except docker.errors.APIError as err:
            if err.status_code == 409:
                return False      # name still taken (removal in progress)
            raise SandboxError('Cannot start sandbox %s: %s'
                               % (name, err.explanation or err))
        except docker.errors.DockerException as err:
            raise SandboxError('Cannot start sandbox %s: %s' % (name, err))
        finally:
            node.release()

    def _scope_of(self, container):
        """The scope whose sandbox ``container`` is; None for a spare."""
        scope = container.labels.get(SCOPE_LABEL)
        if scope:
            return scope
        prefix = container_name('', self.config.node_name)
        name = container.name or ''
        if not name.startswith(prefix) or \
                name[len(prefix):].startswith(SPARE_PREFIX):
            return None
        return name[len(prefix):]       # a claimed spare: renamed

    def _is_spare(self, container):
        return bool(container.labels.get(SPARE_LABEL)) and \
            self._scope_of(container) is None

    def _running(self):
        """This node's running sandboxes (not other nodes' on the host)."""
        node = self.config.node_name
        return [c for c in self.client.containers.list(
            filters={'label': '%s=%s' % (LABEL, LABEL_VALUE)})
            if c.labels.get(NODE_LABEL, '') == node]

    def _make_room(self, conf, scope):
        """Enforce ``max_containers_per_node`` (under the node lock): stop
        the least recently used idle sandboxes of other accounts until there
        is room for one; raise ``SandboxBusy`` if too few are idle."""
        limit = self.config.max_containers_per_node
        if limit <= 0:
            return
        running = self._running()
        spares = [c for c in running if self._is_spare(c)]
        others = [c for c in running if not self._is_spare(c)
                  and self._scope_of(c) != scope]
        excess = len(others) + len(spares) + 1 - limit
        for spare in spares:     # no call, no account: the first to go
            if excess <= 0:
                return
            self._remove(spare)
            excess -= 1
        if excess <= 0:
            return
        others.sort(key=lambda c: self._last_used(self._scope_of(c)))
        for victim in others:
            if excess <= 0:
                return
            victim_scope = self._scope_of(victim)
            idle = locks.acquire(self.lock_file(victim_scope),
                                 exclusive=True, timeout=0)
            if idle is None:
                continue          # a call in flight: never stopped
            with idle:
                if self.logger:
                    self.logger.info('stopping sandbox %s: at most %d per '
                                     'node', victim.name, limit)
                self._remove(victim)
                # its factory had no time to unlink its sockets
                self._clear_run_dir(victim_scope)
            excess -= 1
        if excess > 0:
            raise SandboxBusy('This node has too many active sandboxes '
                              '(max_containers_per_node = %d)' % limit)

    def _last_used(self, scope):
        try:
            return os.stat(self.usage_file(scope)).st_mtime
        except OSError:
            return 0.0

    @staticmethod
    def _remove(container):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass

    def _clear_run_dir(self, scope):
        run = self.run_dir(scope)
        try:
            for stale in os.listdir(run):
                os.unlink(os.path.join(run, stale))
        except FileNotFoundError:
            pass

    def _prepare_dirs(self, scope, run=None, code=None):
        """A scope's (or a spare's) run and code directories, ready for a
        new sandbox: the run directory empty and the sandbox user's."""
        run = run or self.run_dir(scope)
        os.makedirs(run, mode=0o700, exist_ok=True)
        os.makedirs(code or self.cache.scope_dir(scope), mode=0o755,
                    exist_ok=True)
        for stale in os.listdir(run):
            os.unlink(os.path.join(run, stale))
        if os.geteuid() == 0:
            os.chown(run, *self.config.uid_gid)

    # -- spare sandboxes (see the module docstring) ---------------------------

    def _spare_dirs(self, spare):
        name = spare_dir_name(spare)
        return (os.path.join(self.config.host_root, 'run', name),
                self.cache.scope_dir(name))

    def _spares_on_disk(self):
        """Ids of the spares whose directories exist, live or not."""
        try:
            names = os.listdir(os.path.join(self.config.host_root, 'run'))
        except FileNotFoundError:
            return []
        prefix = spare_dir_name('')
        return [n[len(prefix):] for n in names if n.startswith(prefix)]

    def _spare_alive(self, spare):
        run, _ = self._spare_dirs(spare)
        return self._ping(os.path.join(run, layout.FACTORY_SOCKET))

    def _maybe_fill_spares(self):
        """Spawn the spare filler at most every SPARE_CHECK_INTERVAL s."""
        now = time.monotonic()
        if now < self._next_spare_check:
            return
        self._next_spare_check = now + SPARE_CHECK_INTERVAL
        if self._spare_filler is None or self._spare_filler.dead:
            self._spare_filler = eventlet.spawn(self._fill_spares)

    def _fill_spares(self):
        """Start spares until the node has ``spare_sandboxes`` alive, never
        beyond ``max_containers_per_node``; clean up after dead ones."""
        conf = self.config
        alive = [s for s in self._spares_on_disk() if self._spare_alive(s)]
        if len(alive) >= conf.spare_sandboxes:
            return
        node = self.node_lock(timeout=conf.sandbox_start_timeout)
        if node is None:
            return
        try:
            running = self._running()
            on_disk = set(self._spares_on_disk())
            spares = 0
            for box in running:
                if not self._is_spare(box):
                    continue
                if box.labels[SPARE_LABEL] in on_disk:
                    on_disk.discard(box.labels[SPARE_LABEL])
                    spares += 1
                else:
                    self._remove(box)   # its directories are gone
            for spare in on_disk:       # directories of a spare gone
                for path in self._spare_dirs(spare):
                    self.cache.to_trash(path)
            room = (conf.max_containers_per_node - len(running)
                    if conf.max_containers_per_node > 0 else
                    conf.spare_sandboxes)
            for _ in range(min(conf.spare_sandboxes - spares, room)):
                spare = uuid.uuid4().hex[:12]
                run, code = self._spare_dirs(spare)
                self._prepare_dirs(None, run, code)
                self.client.containers.run(
                    **container_run_kwargs(conf, None, spare=spare))
        except Exception:
            if self.logger:
                self.logger.exception('cannot start a spare sandbox')
        finally:
            node.release()

    def _claim_spare_if_cold(self, scope):
        """Make a live spare the scope's sandbox if the scope has none.

        Cheap when the sandbox runs (one stat: its factory's socket is
        there). Gives up, leaving the cold start as it was, whenever the
        scope or the node is busy or no spare answers.
        """
        if os.path.exists(os.path.join(self.run_dir(scope),
                                       layout.FACTORY_SOCKET)):
            return
        if not self._spares_on_disk():
            return
        alone = locks.acquire(self.lock_file(scope), exclusive=True,
                              timeout=0)
        if alone is None:
            return              # a call of the scope in flight
        try:
            node = self.node_lock(timeout=self.config.sandbox_start_timeout)
            if node is None:
                return
            try:
                name = container_name(scope, self.config.node_name)
                try:
                    self.client.containers.get(name)
                    return      # starting, stopping, or another's claim
                except docker.errors.NotFound:
                    pass
                for spare in self._spares_on_disk():
                    if self._spare_alive(spare) and \
                            self._claim(spare, scope, name):
                        self._next_spare_check = 0.0
                        self._maybe_fill_spares()
                        return
            finally:
                node.release()
        finally:
            alone.release()

    def _claim(self, spare, scope, name):
        """Make ``spare`` the scope's sandbox (scope and node locks held)."""
        run, code = self._spare_dirs(spare)
        try:
            reply = channel.call(os.path.join(run, layout.FACTORY_SOCKET), {
                'cmd': 'claim',
                'idle_timeout': factory_idle_timeout(self.config)},
                timeout=2)
        except (OSError, TimeoutError, ProtocolError):
            return False
        if not reply.get('ok'):
            return False
        try:
            self.client.api.rename(
                container_name(SPARE_PREFIX + spare, self.config.node_name),
                name)
        except docker.errors.DockerException as err:
            if self.logger:
                self.logger.warning('cannot claim spare sandbox %s: %s',
                                    spare, err)
            return False
        # The account's old code and sockets go; the spare's directories
        # (mounted in its sandbox) take their names.
        try:
            self.cache.remove_scope(scope)
            self.cache.to_trash(self.run_dir(scope))
            os.rename(code, self.cache.scope_dir(scope))
            os.rename(run, self.run_dir(scope))
        except OSError as err:
            # Half claimed: nobody's. The cold start goes on as without
            # spares (it prepares the scope's directories again).
            if self.logger:
                self.logger.warning('cannot claim spare sandbox %s: %s',
                                    spare, err)
            try:
                self._remove(self.client.containers.get(name))
            except docker.errors.DockerException:
                pass
            return False
        if self.logger:
            self.logger.info('spare sandbox %s is now %s', spare, name)
        return True

    @staticmethod
    def _ping(path):
        try:
            return channel.call(path, {'cmd': 'ping'}, timeout=2).get('ok')
        except (OSError, TimeoutError, ProtocolError):
            return False

    # -- collection -----------------------------------------------------------

    def _maybe_collect(self):
        """Spawn the collector if it is due (cheap: one clock read)."""
        now = time.monotonic()
        if now < self._next_collection:
            return
        self._next_collection = now + self.config.cache_collect_interval
        if self._collector is None or self._collector.dead:
            self._collector = eventlet.spawn(self._collect_if_due)

    def _collect_if_due(self):
        """Collect unless another process of the node did it recently."""
        stamp = os.path.join(self.config.host_root, 'locks', '.collected')
        try:
            if time.time() - os.stat(stamp).st_mtime < \
                    self.config.cache_collect_interval:
                return
            os.utime(stamp)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            open(stamp, 'a').close()
        try:
            self.collect()
        except Exception:
            if self.logger:
                self.logger.exception('storlet code cache collection failed')

    def collect(self):
        """Remove collectable code versions, then what is left of scopes
        whose sandbox is gone (see the module docstring)."""
        conf = self.config
        for scope in self.cache.scopes():
            removed = self.cache.collect_scope(
                scope, conf.cache_ttl, conf.cache_max_versions,
                conf.cache_max_mb * 1024 * 1024,
                on_remove=lambda key, scope=scope: self._stop_daemon(
                    scope, key))
            if removed and self.logger:
                self.logger.info('storlet code cache: removed %d versions '
                                 'of scope %s', len(removed), scope)
        self._collect_scopes()
        self.cache.empty_trash()

    def _stop_daemon(self, scope, key):
        """Stop a removed version's daemon (idle: its lock is ours)."""
        factory = os.path.join(self.run_dir(scope), layout.FACTORY_SOCKET)
        if not os.path.exists(factory):
            return
        try:
            channel.call(factory, {'cmd': 'stop_daemon', 'key': key},
                         timeout=2)
        except (OSError, TimeoutError, ProtocolError):
            pass   # no sandbox: no daemon

    def _collect_scopes(self):
        root = self.config.host_root
        scopes = set(self.cache.scopes())
        for sub in ('run', 'usage', 'locks'):
            try:
                scopes.update(n for n in os.listdir(os.path.join(root, sub))
                              if not n.startswith('.'))
            except FileNotFoundError:
                pass
        now = time.time()
        stale = [s for s in scopes
                 if now - self._last_used(s) > self.config.cache_ttl]
        if not stale:
            return
        node = self.node_lock(timeout=self.config.sandbox_start_timeout)
        if node is None:
            return
        with node:
            # Sandboxes only start under the node lock: this list holds.
            running = {self._scope_of(c) for c in self._running()}
            for scope in stale:
                if scope in running:
                    continue
                idle = locks.acquire(self.lock_file(scope), exclusive=True,
                                     timeout=0)
                if idle is None:
                    continue
                with idle:
                    if now - self._last_used(scope) <= self.config.cache_ttl:
                        continue
                    self.cache.remove_scope(scope)
                    self.cache.to_trash(self.run_dir(scope))
                    for path in (self.usage_file(scope),
                                 self.lock_file(scope)):
                        try:
                            os.unlink(path)
                        except FileNotFoundError:
                            pass
                self._last_touch.pop(scope, None)
                if self.logger:
                    self.logger.info('removed the directories of scope %s '
                                     '(no sandbox, unused)', scope)


class InFlight:
    """A result body that holds the call's locks until it is closed."""

    def __init__(self, body, held):
        self._body = body
        self._iter = iter(body)
        self._held = held

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._iter)

    def close(self):
        try:
            close = getattr(self._body, 'close', None)
            if close:
                close()
        finally:
            held, self._held = self._held, []
            for lock in held:
                lock.release()
