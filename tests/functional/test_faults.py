"""Faults with real processes: a sandbox, a daemon, dockerd or an object
server dies in the middle of an invocation.

After each: the client saw an error or a broken transfer (never a clean,
short 200), nothing half-written is stored, the next request succeeds
without operator action, and nothing is left behind.
"""
import http.client
import os
import signal
import subprocess
import threading
import time

import docker
import pytest
from swiftclient import ClientException

from tests.functional import leaks
from tests.functional.conftest import deploy, object_absent, storlet_get
from storlets.gateway.docker import scope_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
AIO = os.path.join(REPO, 'devstack', 'aio.sh')
RUN_DIR = '/var/run/storlets-aio'
#: the storage node the object-side calls here run on (read first)
NODE = leaks.OBJECT_NODE


@pytest.fixture(scope='module')
def trickle(conn):
    deploy(conn, 'trickle.py', 'trickle.TrickleStorlet')
    deploy(conn, 'identity.py', 'identity.IdentityStorlet')
    return 'trickle.py'


def sandbox():
    return docker.from_env().containers.get(
        leaks.container_name('AUTH_test', NODE))


def start_streaming(conn, container, obj, headers=None):
    """Start a trickle GET; return (client, response) once bytes flow."""
    url, token = conn.get_auth()
    host = url.split('/')[2]
    path = '/' + url.split('/', 3)[3] + '/%s/%s' % (container, obj)
    client = http.client.HTTPConnection(host, timeout=60)
    client.request('GET', path, headers=dict(headers or {}, **{
        'X-Auth-Token': token, 'X-Run-Storlet': 'trickle.py'}))
    resp = client.getresponse()
    assert resp.status == 200
    assert len(resp.read(65536)) == 65536
    return client, resp


def assert_broken(client, resp):
    with pytest.raises((http.client.IncompleteRead, ConnectionError,
                        http.client.HTTPException)):
        while resp.read(65536):
            pass
    client.close()


def assert_recovered(conn, container):
    conn.put_object(container, 'check', b'recovered')
    deadline = time.monotonic() + 30
    while True:
        try:
            _, body = storlet_get(conn, container, 'check', 'identity.py')
            assert body == b'recovered'
            break
        except ClientException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    names = [c.name for c in docker.from_env().containers.list(
        filters={'label': 'managed_by=storlets'})]
    assert names.count(leaks.container_name('AUTH_test', NODE)) == 1
    cache = os.path.join(leaks.host_root(NODE), 'cache',
                         scope_of('AUTH_test'))
    assert not [d for d in os.listdir(cache) if d.startswith('.tmp-')]


def worker_pids(box):
    """Host pids of processes running storlet calls (below the daemons),
    idle pre-forked spares excepted."""
    top = box.top(ps_args='-o pid,ppid,comm')
    procs = {int(p[0]): int(p[1]) for p in top['Processes']
             if p[2] != 'storlets-spare'}
    roots = set(procs) - {pid for pid, ppid in procs.items()
                          if ppid in procs}
    factory = {pid for pid, ppid in procs.items() if ppid in roots}
    daemons = {pid for pid, ppid in procs.items() if ppid in factory}
    return {pid for pid, ppid in procs.items() if ppid in daemons}, daemons


def test_sandbox_killed_mid_stream(conn, trickle, container):
    conn.put_object(container, 'o', b'')
    client, resp = start_streaming(conn, container, 'o')
    sandbox().kill()
    assert_broken(client, resp)
    assert_recovered(conn, container)


def test_daemon_killed_mid_stream(conn, trickle, container):
    conn.put_object(container, 'o', b'')
    client, resp = start_streaming(conn, container, 'o')
    workers, daemons = worker_pids(sandbox())
    assert workers, 'the trickle worker should be running'
    trickle_daemons = set()
    for pid in workers:
        ppid = int(open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1]
                   .split()[1])
        trickle_daemons.add(ppid)
    for pid in trickle_daemons:
        os.kill(pid, signal.SIGKILL)
    assert_broken(client, resp)
    assert_recovered(conn, container)
    time.sleep(1)
    left, _ = worker_pids(sandbox())
    assert not left & workers


def test_failed_put_when_the_sandbox_dies_stores_nothing(conn, trickle,
                                                        container):
    result = {}

    def put():
        try:
            conn.put_object(container, 'dst', None, headers={
                'X-Run-Storlet': 'trickle.py',
                'X-Copy-From': '%s/src' % container})
        except ClientException as err:
            result['status'] = err.http_status
    conn.put_object(container, 'src', b'')
    thread = threading.Thread(target=put)
    thread.start()
    time.sleep(2)
    sandbox().kill()
    thread.join(60)
    assert result.get('status') == 500
    assert object_absent(conn, container, 'dst')
    assert_recovered(conn, container)


def test_dockerd_restart(conn, trickle, container):
    pidfile = os.path.join(RUN_DIR, 'dockerd.pid')
    assert os.path.exists(pidfile), 'dockerd must have been started by aio.sh'
    conn.put_object(container, 'o', b'')
    client, resp = start_streaming(conn, container, 'o')
    pid = int(open(pidfile).read().split()[0])
    os.kill(pid, signal.SIGTERM)
    assert_broken(client, resp)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    subprocess.run([AIO, 'ensure-docker'], check=True, capture_output=True,
                   timeout=120)
    assert_recovered(conn, container)


def test_object_servers_restarted_mid_request(conn, trickle, container):
    conn.put_object(container, 'o', b'')
    client, resp = start_streaming(conn, container, 'o')
    for n in (1, 2, 3):
        pid = int(open(os.path.join(RUN_DIR, 'object-server-%d.pid' % n))
                  .read().split()[0])
        os.killpg(pid, signal.SIGKILL)
    assert_broken(client, resp)
    for n in (1, 2, 3):
        subprocess.run([AIO, 'restart-server', 'object-server-%d' % n],
                       check=True, capture_output=True, timeout=120)
    assert_recovered(conn, container)
    time.sleep(1)
    workers, _ = worker_pids(sandbox())
    assert not workers, 'the storlet outlived its object server'


def test_reupload_while_invoked_concurrently(conn, container):
    template = (b'class V(object):\n'
                b'    def __init__(self, logger):\n        pass\n'
                b'    def __call__(self, i, o, p):\n'
                b'        o[0].set_metadata({})\n'
                b'        o[0].write(b"v%d")\n        o[0].close()\n')
    deploy(conn, None, 'flip.V', name='flip.py', source=template % 0)
    conn.put_object(container, 'o', b'')
    errors, seen, stop = [], set(), threading.Event()

    def invoke():
        while not stop.is_set():
            try:
                seen.add(storlet_get(conn, container, 'o', 'flip.py')[1])
            except ClientException as err:
                errors.append(err)
    threads = [threading.Thread(target=invoke) for _ in range(4)]
    for t in threads:
        t.start()
    for version in range(1, 8):
        deploy(conn, None, 'flip.V', name='flip.py', source=template % version)
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen <= {b'v%d' % i for i in range(8)} and len(seen) > 1
    assert storlet_get(conn, container, 'o', 'flip.py')[1] == b'v7'


def test_full_cache_fails_cleanly_then_recovers(conn, container):
    # A tiny filesystem over the cache of a fresh account scope.
    from tests.functional.conftest import connection
    conn4 = connection('tester4')
    scope = scope_of('AUTH_test4')
    cache = os.path.join(leaks.host_root(NODE), 'cache', scope)
    try:
        docker.from_env().containers.get(
            leaks.container_name('AUTH_test4', NODE)).remove(force=True)
    except docker.errors.NotFound:
        pass
    os.makedirs(cache, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs',
                    cache], check=True)
    try:
        big = b'# padding\n' * 20000 + open(os.path.join(
            os.path.dirname(__file__), 'storlets', 'identity.py'), 'rb').read()
        conn4.put_container('faults')
        conn4.put_object('faults', 'o', b'data')
        deploy(conn4, None, 'bigid.IdentityStorlet', name='bigid.py',
               source=big)
        with pytest.raises(ClientException) as err:
            storlet_get(conn4, 'faults', 'o', 'bigid.py')
        assert err.value.http_status == 503
        assert not [d for d in os.listdir(cache) if d.startswith('.tmp-')]
    finally:
        try:
            docker.from_env().containers.get(
                leaks.container_name('AUTH_test4', NODE)).remove(force=True)
        except docker.errors.NotFound:
            pass
        subprocess.run(['umount', '-l', cache], check=True)
    assert storlet_get(conn4, 'faults', 'o', 'bigid.py')[1] == b'data'
    conn4.delete_object('faults', 'o')
    conn4.delete_container('faults')
