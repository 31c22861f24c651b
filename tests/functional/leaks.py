"""Leak checks and probes shared by the hostile-storlet and isolation tests.

``no_leaks(account)`` is a context manager: it takes a snapshot before the
block and, after it, waits (a few seconds at most) until nothing the block
may have left behind remains, then fails with the list of what did:

* a process of a storlet call inside the account's sandbox: anything but
  docker-init, the factory (its child, in its session) and the daemons
  (the factory's children, in that session); so a call's supervisor or
  worker, or whatever a storlet started, even re-parented or in a session
  of its own;
* open descriptors of the proxy and object servers: more pipes, files or
  Unix sockets (what a storlet call uses) than before, or more than
  OTHER_SLACK more of any other kind (pools, lazily created loggers, reset
  connections eventlet frees at the next garbage collection);
* a new storlets container, or the account's sandbox restarted or removed
  (a storlet must not be able to take its sandbox down);
* a stray file in ``<host_root>/run/<scope>/`` (only ``factory.sock`` and
  ``d-*.sock``) or a ``.tmp-*`` directory in ``<host_root>/cache/<scope>/``.

Every check is made on every node of the cluster: the proxies' node
(``proxy``, the gateway config ``STORLETS_GATEWAY_CONF``) and each storage
node (``nodeN``, ``<config dir>/nodeN/storlet-docker-gateway.conf``), each
with its own ``host_root`` and sandboxes.

Processes left behind are killed (by pid) once reported, so that one
failing test does not break the next ones.

Also here: the gateway config; ``ProxyLog`` (errors the proxy counted
against object servers for a transaction); ``Probe``, which runs a plain
GET and an identity-storlet GET in another account from a thread while a
hostile call is in flight, timing each; and what the snoop tests compare
with: ``plant_secret_storlet``, ``host_digests``.
"""
import collections
import configparser
import contextlib
import glob
import hashlib
import os
import signal
import subprocess
import threading
import time

import docker

GATEWAY_CONF = os.environ.get('STORLETS_GATEWAY_CONF',
                              '/etc/swift/storlet-docker-gateway.conf')
PID_DIR = '/var/run/storlets-aio'
PROXY_LOG = os.environ.get('STORLETS_PROXY_LOG',
                           '/var/log/storlets-aio/proxy-server.log')
#: What Swift's proxy logs when it counts an error against a backend node
#: (error limiting: after ``error_suppression_limit`` (10) of them within
#: ``error_suppression_interval`` (60 s) it stops using the node).
NODE_ERROR_MARKS = ('ERROR with Object server', 'From Object Server',
                    'Node error limited')
SERVER_PID_FILES = ('proxy-server.pid', 'object-server-1.pid',
                    'object-server-2.pid', 'object-server-3.pid')
#: The node that runs a storlet GET on the object side while every storage
#: node is up: the all-in-one's proxies read from node 1 first.
OBJECT_NODE = 'node1'
PROXY_NODE = 'proxy'
LABEL = 'managed_by=storlets'
#: Descriptor kinds a storlet call itself uses in a server (output,
#: metadata and input pipes, the Unix socket to the daemon, the log temp
#: file and the object's data file): these must not grow at all.
PLUMBING = ('pipe', 'unix', 'file')
#: Other kinds may grow a little: pools (memcache, keep-alive), reset
#: connections not yet garbage-collected, a logger or event fd created
#: lazily by a freshly (re)started server.
OTHER_SLACK = 3
#: TCP sockets of a server are its clients' keep-alive connections and its
#: memcache pool: more of them after a burst of concurrent requests is no
#: leak (a storlet call's own descriptors are PLUMBING, checked strictly).
#: The same holds for ``docker``: the gateway's Docker client keeps a pool
#: of Unix connections to dockerd, one more per concurrent API call.
TCP_SLACK = 8
POOLS = ('tcp', 'docker')
DOCKER_SOCKET = '/var/run/docker.sock'


def node_gateway_confs():
    """{node name: gateway config path}: the proxies' node first."""
    confs = {PROXY_NODE: GATEWAY_CONF}
    for path in sorted(glob.glob(os.path.join(
            os.path.dirname(GATEWAY_CONF), 'node*',
            'storlet-docker-gateway.conf'))):
        confs[os.path.basename(os.path.dirname(path))] = path
    return confs


def nodes():
    """Names of every node with a storlet gateway (proxy, node1, ...)."""
    return list(node_gateway_confs())


def gateway_conf(node=PROXY_NODE):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(node_gateway_confs()[node])
    return parser.defaults()


def sandbox_image(account):
    """The image the operator configured for an account's sandboxes."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(GATEWAY_CONF)
    section = 'account:%s' % account
    if parser.has_option(section, 'sandbox_image'):
        return parser.get(section, 'sandbox_image')
    return parser.defaults().get('sandbox_image', 'storlets-sandbox:latest')


def storlet_timeout():
    return float(gateway_conf().get('storlet_timeout', 40))


def host_root(node=PROXY_NODE):
    return gateway_conf(node).get('host_root', '/var/lib/storlets')


def scope_of(account):
    return hashlib.sha256(account.encode('utf-8')).hexdigest()[:24]


def container_name(account, node=PROXY_NODE):
    name = gateway_conf(node).get('node_name', '')
    if name:
        return 'storlets-%s-%s' % (name, scope_of(account))
    return 'storlets-%s' % scope_of(account)


_client = None


def docker_client():
    global _client
    if _client is None:
        _client = docker.from_env()
    return _client


def sandbox(account, node=PROXY_NODE):
    """The account's sandbox container on a node (docker SDK object), or
    None."""
    try:
        return docker_client().containers.get(container_name(account, node))
    except docker.errors.NotFound:
        return None


def sandboxes(account):
    """{node: container} of the account's sandboxes on every node."""
    found = {}
    for node in nodes():
        container = sandbox(account, node)
        if container is not None:
            found[node] = container
    return found


def storlets_containers():
    return {c.name: c.id for c in docker_client().containers.list(
        filters={'label': LABEL})}


def counted_runs(account, key):
    """How often the counting storlet (count_runs.py) ran with ``key`` in
    the account's sandboxes, summed over every node: it appends a byte to
    ``/dev/shm/runs-<key>`` in the sandbox it runs in."""
    total = 0
    for container in sandboxes(account).values():
        out = container.exec_run(['cat', '/dev/shm/runs-%s' % key])
        if out.exit_code == 0:
            total += len(out.output)
    return total


# -- processes in a sandbox ---------------------------------------------------

#: Process name of the agent's idle, pre-forked spares (warm supervisors and
#: workers waiting for a call): engine processes, not leftovers of a call.
SPARE_NAME = 'storlets-spare'
#: The main class of a Java daemon's JVM.
JAVA_DAEMON_CLASS = 'org.openstack.storlet.daemon.JavaDaemon'


def sandbox_processes(container, spares=False):
    """[(host pid, host ppid, session id, command line)] of a container,
    without the agent's idle spares unless ``spares``."""
    try:
        top = container.top(ps_args='-eww -o pid,ppid,sid,comm,args')
    except docker.errors.APIError:
        return []
    return [(int(p[0]), int(p[1]), int(p[2]), p[4])
            for p in top['Processes'] or [] if spares or p[3] != SPARE_NAME]


def classify(processes):
    """``(agent, strays)``: docker-init, factory and daemons; the rest.

    docker-init is the process whose parent is outside the container; the
    factory is its child in its session, daemons are the factory's children
    in that session. Every storlet call runs in a new session (the worker
    calls setsid()), so anything else (a worker, a storlet's child, an
    orphan re-parented to docker-init) is a process of a storlet call. The
    one exception: the JVM of a Java daemon (the daemon's child in its
    session, running the engine's JavaDaemon class) is engine too.
    """
    pids = {proc[0] for proc in processes}
    roots = {pid: sid for pid, ppid, sid, _ in processes if ppid not in pids}
    factories = {pid: sid for pid, ppid, sid, _ in processes
                 if ppid in roots and sid == roots[ppid]}
    daemons = {pid: sid for pid, ppid, sid, _ in processes
               if ppid in factories and sid == factories[ppid]}
    agent, strays = [], []
    for proc in processes:
        pid, ppid, sid, args = proc
        if pid in roots or pid in factories or pid in daemons or (
                ppid in daemons and sid == daemons[ppid]
                and JAVA_DAEMON_CLASS in args.split()):
            agent.append(proc)
        else:
            strays.append(proc)
    return agent, strays


def storlet_processes(account):
    """Processes of storlet calls now running in the account's sandboxes
    (on every node)."""
    strays = []
    for container in sandboxes(account).values():
        strays += classify(sandbox_processes(container))[1]
    return strays


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_storlet_processes(account, rounds=20):
    """SIGKILL every storlet process of the sandbox (by pid), repeatedly
    (a process may fork while we kill its siblings)."""
    for _ in range(rounds):
        strays = storlet_processes(account)
        if not strays:
            return
        kill_pids(proc[0] for proc in strays)
        time.sleep(0.1)


# -- descriptors of the Swift servers ---------------------------------------

def server_pids():
    """Pids of the proxy and object servers (parents and their workers)."""
    parents = set()
    for name in SERVER_PID_FILES:
        try:
            with open(os.path.join(PID_DIR, name)) as f:
                parents.add(int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    pids = set(parents)
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in parents:
            pids.add(int(stat.split('/')[2]))
    return pids


def _socket_inodes(*tables):
    inodes = set()
    for table in tables:
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    inodes.add(parts[6] if table.endswith('unix')
                               else parts[9])
        except (OSError, IndexError, StopIteration):
            pass
    return inodes


def _docker_peers():
    """Inodes of the Unix sockets connected to dockerd's API socket (their
    peers, dockerd's accepted ends, are bound to DOCKER_SOCKET), and of
    those whose peer has closed (held until the process drops them)."""
    try:
        out = subprocess.run(['ss', '-x', '-n'], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    docker, closed = set(), set()
    for line in out.splitlines():
        parts = line.split()
        # Netid State Recv-Q Send-Q Local Inode Peer PeerInode
        if len(parts) < 8:
            continue
        if parts[4] == DOCKER_SOCKET:
            docker.add(parts[7])
        elif parts[7] == '0' and parts[1] == 'ESTAB':
            closed.add(parts[5])
    return docker, closed


def _protocol(fd_path):
    try:
        return os.getxattr(fd_path, 'system.sockprotoname').rstrip(
            b'\0').decode()
    except OSError:
        return '?'


def fd_census(pids):
    """{pid: Counter(kind)}: pipe, file, unix, docker (a Unix connection to
    dockerd), unix-closed (its peer is gone), tcp, udp, tcp-closed, socket
    (any other), other (eventpoll, eventfd...).

    ``tcp-closed`` is a TCP socket the kernel has already dropped (reset
    by its peer) whose descriptor the process still holds: Swift's
    eventlet servers keep those after a client hangs up mid-transfer until
    the garbage collector frees them, storlets or not.
    """
    unix = _socket_inodes('/proc/net/unix')
    tcp = _socket_inodes('/proc/net/tcp', '/proc/net/tcp6')
    udp = _socket_inodes('/proc/net/udp', '/proc/net/udp6')
    census, unix_of = {}, {}
    for pid in pids:
        kinds = collections.Counter()
        try:
            names = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for name in names:
            path = '/proc/%d/fd/%s' % (pid, name)
            try:
                target = os.readlink(path)
            except OSError:
                continue
            if target.startswith('pipe:'):
                kinds['pipe'] += 1
            elif target.startswith('socket:'):
                inode = target[len('socket:['):-1]
                if inode in unix:
                    unix_of.setdefault(pid, []).append(inode)
                elif inode in tcp:
                    kinds['tcp'] += 1
                elif inode in udp:
                    kinds['udp'] += 1
                elif _protocol(path).startswith('TCP'):
                    kinds['tcp-closed'] += 1
                else:
                    kinds['socket'] += 1
            elif target.startswith('/'):
                kinds['file'] += 1
            else:
                kinds['other'] += 1
        census[pid] = kinds
    # after the listing, so a connection made meanwhile is known to ss
    docker_conns, closed = _docker_peers()
    for pid, inodes in unix_of.items():
        for inode in inodes:
            census[pid]['docker' if inode in docker_conns else
                        'unix-closed' if inode in closed else 'unix'] += 1
    return census


def fd_growth(before, after):
    """Descriptor kinds that grew, per server pid present both times."""
    grown = {}
    for pid in set(before) & set(after):
        diff = {}
        for kind, count in after[pid].items():
            allowed = before[pid][kind] + (
                0 if kind in PLUMBING else
                TCP_SLACK if kind in POOLS else OTHER_SLACK)
            if count > allowed:
                diff[kind] = '%d -> %d' % (before[pid][kind], count)
        if diff:
            grown[pid] = diff
    return grown


# -- files on the host --------------------------------------------------------

def run_dir_strays(account):
    """Stray files in the account's run directory, on every node."""
    strays = []
    for node in nodes():
        path = os.path.join(host_root(node), 'run', scope_of(account))
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            continue
        strays += sorted(os.path.join(path, n) for n in names
                         if n != 'factory.sock'
                         and not (n.startswith('d-') and n.endswith('.sock')))
    return strays


def cache_tmp_dirs(account):
    found = []
    for node in nodes():
        found += sorted(glob.glob(os.path.join(
            host_root(node), 'cache', scope_of(account), '.tmp-*')))
    return found


# -- the check ----------------------------------------------------------------

class ProxyLog:
    """Lines the proxy logs from now on (the all-in-one's log file)."""

    def __init__(self, path=PROXY_LOG):
        self.path = path
        try:
            self.offset = os.path.getsize(path)
        except OSError:
            self.offset = None

    def node_errors(self, txn):
        """Errors counted against backend nodes for transaction ``txn``."""
        if self.offset is None:
            raise RuntimeError('no proxy log at %s' % self.path)
        with open(self.path, 'rb') as f:
            if os.fstat(f.fileno()).st_size >= self.offset:
                f.seek(self.offset)   # else: truncated by a restart
            new = f.read().decode('utf-8', 'replace')
        return [line[:300] + ' ... ' + line[-200:]
                for line in new.splitlines()
                if txn in line and any(m in line for m in NODE_ERROR_MARKS)]


class Snapshot:
    def __init__(self, account):
        self.proxy_log = ProxyLog()
        #: {node: container id} of the account's sandboxes
        self.sandbox_ids = {node: c.id
                            for node, c in sandboxes(account).items()}
        self.containers = storlets_containers()
        self.pids = server_pids()
        self.fds = fd_census(self.pids)


def problems(account, before):
    found = []
    strays = storlet_processes(account)
    if strays:
        found.append('storlet processes left in the sandbox: %s' % strays)
    new = set(storlets_containers()) - set(before.containers)
    if new:
        found.append('new storlets containers: %s' % sorted(new))
    for node, sandbox_id in before.sandbox_ids.items():
        container = sandbox(account, node)
        if container is None or container.id != sandbox_id:
            found.append('the sandbox %s was %s' % (
                container_name(account, node),
                'removed' if container is None else 'restarted'))
    grown = fd_growth(before.fds, fd_census(before.pids))
    if grown:
        found.append('server descriptors grew: %s' % grown)
    stray_files = run_dir_strays(account)
    if stray_files:
        found.append('stray files in the run dir: %s' % stray_files)
    tmp = cache_tmp_dirs(account)
    if tmp:
        found.append('temporary cache dirs left: %s' % tmp)
    return found


@contextlib.contextmanager
def no_leaks(account, settle=5.0, result=None):
    """Fail if the block leaves anything behind (see the module doc).

    ``result`` (a dict), if given, gets ``cleanup_seconds``: how long after
    the block it took until nothing was left.
    """
    before = Snapshot(account)
    try:
        yield before
    except BaseException:
        kill_storlet_processes(account)
        raise
    started = time.monotonic()
    deadline = started + settle
    while True:
        found = problems(account, before)
        if not found or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if result is not None:
        result['cleanup_seconds'] = round(time.monotonic() - started, 2)
    if found:
        kill_storlet_processes(account)
    assert not found, 'left behind after %.1f s: %s' % (
        time.monotonic() - started, '; '.join(found))


# -- other accounts keep being served ----------------------------------------

class Probe(threading.Thread):
    """Plain and identity-storlet GETs in a loop until ``stop()``.

    At least one round runs, whenever ``stop()`` is called. ``timings`` is
    a list of ``(what, seconds, error or None)``.
    """

    def __init__(self, connect, container, obj, expected, storlet):
        super().__init__(daemon=True)
        self.connect = connect
        self.container = container
        self.obj = obj
        self.expected = expected
        self.storlet = storlet
        self.timings = []
        self._halt = threading.Event()

    def run(self):
        conn = self.connect()
        try:
            while True:
                for what, headers in (
                        ('plain', {}),
                        ('storlet', {'X-Run-Storlet': self.storlet})):
                    started = time.monotonic()
                    error = None
                    try:
                        _, body = conn.get_object(self.container, self.obj,
                                                  headers=headers)
                        if body != self.expected:
                            error = 'wrong body (%d bytes)' % len(body)
                    except Exception as err:
                        error = repr(err)
                    self.timings.append(
                        (what, time.monotonic() - started, error))
                if self._halt.wait(0.2):
                    return
        finally:
            conn.close()

    def stop(self):
        self._halt.set()
        self.join(60)


# -- secrets: what another account or the host has, to look for ----------

HASHED = 1024 * 1024   # the snoop storlet hashes the first MiB of a file


def plant_secret_storlet(conn, tag):
    """Deploy and run once a storlet with a unique name and content, so that
    its code sits in that account's cache on this node.

    Returns ``(name, marker, sha256 of the code)``.
    """
    from tests.functional.conftest import deploy
    marker = 'secret-%s-%s' % (tag, os.urandom(8).hex())
    module = 'hostile_secret_%s' % os.urandom(6).hex()
    source = ('"""%s"""\nMARKER = %r\n\n\nclass SecretStorlet(object):\n'
              '    def __init__(self, logger):\n        pass\n\n'
              '    def __call__(self, in_files, out_files, params):\n'
              '        out_files[0].set_metadata({})\n'
              '        out_files[0].write(MARKER.encode())\n'
              '        out_files[0].close()\n'
              % (marker, marker)).encode()
    name = deploy(conn, None, module + '.SecretStorlet', name=module + '.py',
                  source=source)
    container = 'hostile-secret-' + os.urandom(4).hex()
    conn.put_container(container)
    try:
        conn.put_object(container, 'o', b'')
        _, body = conn.get_object(container, 'o',
                                  headers={'X-Run-Storlet': name})
        assert body == marker.encode()
    finally:
        conn.delete_object(container, 'o')
        conn.delete_container(container)
    return name, marker, hashlib.sha256(source).hexdigest()


def host_digests(roots, sizes, min_size=32):
    """{sha256 of the first MiB: host path} of the files under ``roots``
    whose size is in ``sizes`` (only those can match what a storlet saw)."""
    paths = []
    for root in roots:
        if os.path.isfile(root):
            paths.append(root)
        for top, dirs, names in os.walk(root):
            paths.extend(os.path.join(top, name) for name in names)
    digests = {}
    for path in paths:
        try:
            size = os.lstat(path).st_size
            if size < min_size or size not in sizes:
                continue
            with open(path, 'rb') as f:
                digests[hashlib.sha256(f.read(HASHED)).hexdigest()] = path
        except OSError:
            continue
    return digests


def host_paths_in_mountinfo(lines):
    """Host paths a sandbox learns from /proc/self/mountinfo (reported)."""
    paths = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[3] != '/':
            paths.add(fields[3])
        for option in fields[-1].split(','):
            key, _, value = option.partition('=')
            if key in ('lowerdir', 'upperdir', 'workdir'):
                paths.update(v for v in value.split(':') if v)
    return sorted(paths)
