"""The all-in-one is a small real cluster: three storage nodes, each with
its own storlet engine.

Node N (127.0.0.(N+1)) has its own gateway config (``node_name`` nodeN,
``host_root`` /var/lib/storlets/nodeN): its own code cache, runtime
directory and sandboxes; the proxies are node ``proxy``. The proxies read
from node 1 first (read affinity), so an object-side call runs there while
it is up, and on node 2 when node 1 is down.

With a node down (``aio.sh stop-node``), storlet GET, PUT and copy still
work and run exactly once (the counting storlet's counts, summed over every
sandbox of the account on every node). A storlet re-uploaded while a node is
down is the version that node runs once it is back: the node that missed
the upload still holds the old replica, and neither the proxy's view of the
storlet nor the node's code fetch may take it.
"""
import configparser
import contextlib
import os
import subprocess
import uuid

import pytest

from swift.common.memcached import MemcacheRing
from swift.common.utils import get_logger

from storlets.middleware import code_info
from tests.functional import leaks
from tests.functional.conftest import deploy, storlet_get

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
AIO = os.path.join(REPO, 'devstack', 'aio.sh')
ACCOUNT = 'AUTH_test'
MEMCACHE = '127.0.0.1:11211'
STORAGE_NODES = ('node1', 'node2', 'node3')
PROXIES = ('proxy-server', 'proxy-server-encrypted', 'proxy-server-keystone')


def aio(*args):
    done = subprocess.run([AIO] + list(args), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@contextlib.contextmanager
def node_down(n):
    """Storage node ``n`` stopped within the block; afterwards it is back
    and the proxies are restarted (they error-limit a node that refused
    connections for a minute; later tests expect reads on node 1)."""
    aio('stop-node', str(n))
    try:
        yield
    finally:
        aio('start-node', str(n))
        for proxy in PROXIES:
            aio('restart-server', proxy)


def runs(key):
    return leaks.counted_runs(ACCOUNT, key)


def cached_names(node):
    """Names of the code files in AUTH_test's cache on ``node``."""
    root = os.path.join(leaks.host_root(node), 'cache',
                        leaks.scope_of(ACCOUNT))
    names = set()
    for top, _dirs, files in os.walk(root):
        if '/.tmp-' not in top + '/':
            names.update(files)
    return names


def versioned_source(tag):
    return ('class Versioned(object):\n'
            '    def __init__(self, logger):\n        pass\n\n'
            '    def __call__(self, in_files, out_files, params):\n'
            '        out_files[0].set_metadata({})\n'
            '        out_files[0].write(b%r)\n'
            '        out_files[0].close()\n' % tag).encode()


def deploy_versioned(conn, name, tag):
    """Upload (or re-upload) storlet ``name`` answering ``tag``."""
    deploy(conn, None, '%s.Versioned' % name[:-3], name=name,
           source=versioned_source(tag))


@pytest.fixture
def counted(conn, deployed, container):
    conn.put_object(container, 'o', b'payload ' * 1000)
    return uuid.uuid4().hex


def test_every_node_has_its_own_engine():
    confs = leaks.node_gateway_confs()
    assert set(confs) == {'proxy'} | set(STORAGE_NODES)
    names = {leaks.gateway_conf(n)['node_name'] for n in confs}
    roots = {leaks.host_root(n) for n in confs}
    assert names == set(confs) and len(roots) == len(confs)
    for n in (1, 2, 3):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read('/etc/swift/node%d/object-server.conf' % n)
        assert parser.get('DEFAULT', 'bind_ip') == '127.0.0.%d' % (n + 1)
        assert parser.get('filter:storlet_handler', 'storlet_gateway_conf') \
            == confs['node%d' % n]


def test_each_node_fetches_code_into_its_own_cache(conn, container):
    name = 'versioned_%s.py' % uuid.uuid4().hex[:8]
    deploy_versioned(conn, name, 'one')
    conn.put_object(container, 'o', b'x')
    headers, body = storlet_get(conn, container, 'o', name)
    assert (body, headers['x-storlet-executed']) == (b'one', 'object')
    assert name in cached_names('node1')
    assert not any(name in cached_names(n) for n in ('proxy', 'node2',
                                                      'node3'))
    _, body = storlet_get(conn, container, 'o', name,
                          {'X-Storlet-Run-On-Proxy': ''})
    assert body == b'one' and name in cached_names('proxy')
    assert not any(name in cached_names(n) for n in ('node2', 'node3'))


def test_a_nodes_sandbox_sees_only_that_nodes_directories(conn, container,
                                                          deployed):
    conn.put_object(container, 'o', b'x')
    storlet_get(conn, container, 'o', 'identity.py')
    storlet_get(conn, container, 'o', 'identity.py',
                {'X-Storlet-Run-On-Proxy': ''})
    found = leaks.sandboxes(ACCOUNT)
    assert {'node1', 'proxy'} <= set(found)
    for node, sandbox in found.items():
        assert sandbox.name == leaks.container_name(ACCOUNT, node)
        assert sandbox.labels['storlets.node'] == node
        root = leaks.host_root(node).rstrip('/') + '/'
        sources = [m['Source'] for m in sandbox.attrs['Mounts']]
        assert sources and all(s.startswith(root) for s in sources), \
            (node, sources)


@pytest.mark.parametrize('down', [1, 3])
def test_with_a_node_down_get_put_and_copy_run_exactly_once(
        conn, container, counted, down):
    data = b'payload ' * 1000
    run = {'X-Run-Storlet': 'count_runs.py',
           'X-Storlet-Parameter-1': 'key:' + counted}
    with node_down(down):
        headers, body = conn.get_object(container, 'o', headers=run)
        assert body == data and headers['x-storlet-executed'] == 'object'
        assert runs(counted) == 1
        # the object side ran on the first node that answered
        expected_node = 'node2' if down == 1 else 'node1'
        assert expected_node in leaks.sandboxes(ACCOUNT)

        conn.put_object(container, 'put', data, headers=run)
        assert conn.get_object(container, 'put')[1] == data
        assert runs(counted) == 2

        conn.copy_object(container, 'o', '/%s/copied' % container,
                         headers=run)
        assert conn.get_object(container, 'copied')[1] == data
        assert runs(counted) == 3


def test_a_storlet_reuploaded_while_a_node_is_down_is_the_one_it_runs(
        conn, container):
    name = 'versioned_%s.py' % uuid.uuid4().hex[:8]
    deploy_versioned(conn, name, 'old')
    conn.put_object(container, 'o', b'x')
    assert storlet_get(conn, container, 'o', name)[1] == b'old'
    with node_down(1):
        deploy_versioned(conn, name, 'new')
        assert storlet_get(conn, container, 'o', name)[1] == b'new'
    # node 1 is back with the old replica of the storlet (no replicator
    # runs in the all-in-one); reads go to it first again
    replicas = replica_bodies('storlet', name)
    assert sorted(replicas.values()) == [
        versioned_source('new'), versioned_source('new'),
        versioned_source('old')]
    # what the proxies remember of the storlet is gone too (as after its
    # memcache entry expires): they must ask the cluster again
    MemcacheRing([MEMCACHE], logger=get_logger(None)).delete(
        code_info.cache_key(ACCOUNT, 'storlet', name))
    for extra in ({}, {'X-Storlet-Run-On-Proxy': ''}):
        headers, body = storlet_get(conn, container, 'o', name, extra)
        assert body == b'new', (extra, body)
    assert storlet_get(conn, container, 'o', name)[0][
        'x-storlet-executed'] == 'object'
    assert 'node1' in leaks.sandboxes(ACCOUNT)


def replica_bodies(container, obj):
    """{node address: body} of each replica, asked of each object server
    directly (``swift-get-nodes`` style, through Swift's direct client)."""
    from swift.common.direct_client import direct_get_object
    from swift.common.ring import Ring
    ring = Ring('/etc/swift', ring_name='object')
    part, nodes = ring.get_nodes(ACCOUNT, container, obj)
    bodies = {}
    for node in nodes:
        _headers, body = direct_get_object(node, part, ACCOUNT, container,
                                           obj)
        bodies[node['ip']] = body
    return bodies


def test_status_shows_every_node():
    done = subprocess.run([AIO, 'status'], capture_output=True, text=True,
                          timeout=120)
    for n in (1, 2, 3):
        assert 'storage node %d (127.0.0.%d' % (n, n + 1) in done.stdout
        for kind in ('account', 'container', 'object'):
            assert '%s-server-%d ' % (kind, n) in done.stdout
    assert 'proxy node (127.0.0.1' in done.stdout
