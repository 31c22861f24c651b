"""Storlet engine vs plain Swift, side by side, in one run.

Against the running all-in-one (``devstack/aio.sh up``). Every figure is
measured here, now, for both paths, and reported as a ratio, because this
machine is noisy: compare the columns, not runs.

    /opt/storlets/venv/bin/python -m tests.bench.bench            # default set
    /opt/storlets/venv/bin/python -m tests.bench.bench --huge      # + 1 GiB
    /opt/storlets/venv/bin/python -m tests.bench.bench --quick     # smoke run
    /opt/storlets/venv/bin/python -m tests.bench.bench --scale \
        --chart docs/images/concurrency.png          # + scale.py's tables

Rows: 1 KiB GET latency (p50/p99, added ms), GET and PUT throughput (MB/s,
ratio), cold start of a fresh account's sandbox (p50), concurrent 1 KiB GETs
(req/s, errors), peak RSS of the servers and the sandbox during the largest
GET. The storlet is identity with 64 KiB reads and writes
(tests/functional/storlets/identity.py), so the engine is what is measured.

Two worker modes: the main rows use the default, which the docs recommend
for production (a warm worker serves up to ``calls_per_worker`` = 100 calls
of its storlet in turn); the ``fresh:`` rows run in AUTH_freshworkers, which
the all-in-one configures with ``calls_per_worker = 1`` (a new worker
process per call).
"""
import argparse
from concurrent.futures import ThreadPoolExecutor
import http.client
import os
import statistics
import threading
import time
import uuid

import docker
import swiftclient

from storlets.gateway.docker import container_name, scope_of
from tests.bench import scale
from tests.soak.soak import _rss_kib, server_processes

#: the storage node object-side GETs run on (the proxies read it first)
BENCH_NODE = 'node1'
AUTH = os.environ.get('ST_AUTH', 'http://127.0.0.1:8080/auth/v1.0')
HERE = os.path.dirname(os.path.abspath(__file__))
IDENTITY = os.path.join(HERE, '..', 'functional', 'storlets', 'identity.py')
STORLET = {'X-Run-Storlet': 'bench_identity.py'}
MB = 1024 * 1024


#: the account whose sandbox runs every call in a fresh worker process
FRESH_ACCOUNT = 'AUTH_freshworkers'


def storlet_headers(main='bench_identity.IdentityStorlet'):
    return {'X-Object-Meta-Storlet-Language': 'Python',
            'X-Object-Meta-Storlet-Interface-Version': '1.0',
            'X-Object-Meta-Storlet-Object-Metadata': 'no',
            'X-Object-Meta-Storlet-Main': main}


def identity_source():
    with open(IDENTITY, 'rb') as f:
        return f.read()


def admin_base():
    """(storage URL base without the account, reseller admin token)"""
    url, token = swiftclient.get_auth(AUTH, 'admin:admin', 'admin')
    return url.rsplit('/', 1)[0], token


def fresh_client():
    """A Client of FRESH_ACCOUNT with the identity storlet and c/o1024."""
    base, token = admin_base()
    conn = swiftclient.Connection(
        preauthurl='%s/%s' % (base, FRESH_ACCOUNT), preauthtoken=token,
        retries=0)
    conn.post_account({'X-Account-Meta-Storlet-Enabled': 'true'})
    conn.put_container('storlet')
    conn.put_container('c')
    conn.put_object('storlet', 'bench_identity.py', identity_source(),
                    headers=storlet_headers())
    conn.put_object('c', 'o1024', b'x' * 1024)
    return Client('%s/%s' % (base, FRESH_ACCOUNT), token)


class Client:
    """One keep-alive connection per thread; returns (seconds, status)."""

    def __init__(self, url, token):
        self.url = url
        self.host = url.split('/')[2]
        self.base = '/' + url.split('/', 3)[3]
        self.token = token
        self.local = threading.local()

    def _conn(self):
        if getattr(self.local, 'conn', None) is None:
            self.local.conn = http.client.HTTPConnection(self.host,
                                                         timeout=120)
        return self.local.conn

    def request(self, method, path, headers=None, body=None):
        h = dict(headers or {}, **{'X-Auth-Token': self.token})
        conn = self._conn()
        started = time.perf_counter()
        try:
            conn.request(method, '%s/%s' % (self.base, path), body=body,
                         headers=h)
            resp = conn.getresponse()
            size = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            conn.close()
            return time.perf_counter() - started, 0, 0
        return time.perf_counter() - started, resp.status, size


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def latency(client, path, n):
    plain, storlet = [], []
    for i in range(n):          # interleaved, so noise hits both alike
        plain.append(client.request('GET', path)[0])
        storlet.append(client.request('GET', path, STORLET)[0])
    return plain, storlet


def throughput_get(client, path, size, reps):
    rates = {'plain': [], 'storlet': []}
    for _ in range(reps):
        for name, headers in (('plain', {}), ('storlet', STORLET)):
            seconds, status, got = client.request('GET', path, headers)
            assert status == 200 and got == size, (name, status, got)
            rates[name].append(size / seconds / MB)
    return {k: statistics.median(v) for k, v in rates.items()}


class Body:
    """A re-readable, cheap request body of ``size`` bytes."""

    def __init__(self, size):
        self.size = size
        self.block = os.urandom(MB)

    def __iter__(self):
        left = self.size
        while left:
            n = min(left, len(self.block))
            yield self.block[:n]
            left -= n


def throughput_put(client, container, size, reps):
    rates = {'plain': [], 'storlet': []}
    body = Body(size)
    for _ in range(reps):
        for name, headers in (('plain', {}), ('storlet', STORLET)):
            h = dict(headers, **{'Content-Length': str(size)})
            seconds, status, _ = client.request(
                'PUT', '%s/put-%s' % (container, name), h, iter(body))
            assert status == 201, (name, status)
            rates[name].append(size / seconds / MB)
    return {k: statistics.median(v) for k, v in rates.items()}


def concurrent_gets(client, path, clients, seconds):
    out = {}
    for name, headers in (('plain', {}), ('storlet', STORLET)):
        done, errors, stop = [0], [0], time.monotonic() + seconds
        lock = threading.Lock()

        def loop():
            while time.monotonic() < stop:
                _, status, _ = client.request('GET', path, headers)
                with lock:
                    if status == 200:
                        done[0] += 1
                    else:
                        errors[0] += 1
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            for _ in range(clients):
                pool.submit(loop)
        out[name] = (done[0] / (time.monotonic() - started), errors[0])
    return out


def live_spares(dock, node):
    """Ids of the node's spare sandboxes whose agent answers."""
    prefix = container_name('spare-', node)
    root = '/var/lib/storlets/%s/run' % node
    return {box.id for box in dock.containers.list(
        filters={'label': 'storlets.node=' + node})
        if box.name.startswith(prefix) and os.path.exists(os.path.join(
            root, '.spare-' + box.name[len(prefix):], 'factory.sock'))}


def cold_starts(n):
    """First invocation of a fresh storlet in accounts with no sandbox.

    Returns (seconds of each, how many claimed a spare sandbox). With spare
    sandboxes on the node, each waits (up to 10 s) for one to be ready: the
    steady state of a node whose cold starts come less often than a
    container starts.
    """
    base, token = admin_base()
    source = identity_source()
    times, claimed = [], 0
    dock = docker.from_env()
    for i in range(n):
        account = 'AUTH_cold%s' % uuid.uuid4().hex[:8]
        conn = swiftclient.Connection(preauthurl='%s/%s' % (base, account),
                                      preauthtoken=token, retries=0)
        conn.post_account({'X-Account-Meta-Storlet-Enabled': 'true'})
        conn.put_container('storlet')
        conn.put_container('c')
        conn.put_object('storlet', 'bench_identity.py', source,
                        headers=storlet_headers())
        conn.put_object('c', 'o', b'x' * 1024)
        client = Client('%s/%s' % (base, account), token)
        client.request('HEAD', 'c/o')            # warm caches, not sandbox
        deadline = time.monotonic() + 10
        spares = live_spares(dock, BENCH_NODE)
        while not spares and time.monotonic() < deadline:
            time.sleep(0.2)
            spares = live_spares(dock, BENCH_NODE)
        seconds, status, _ = client.request('GET', 'c/o', STORLET)
        assert status == 200, status
        times.append(seconds)
        try:
            box = dock.containers.get(container_name(scope_of(account),
                                                     BENCH_NODE))
            claimed += box.id in spares
            box.remove(force=True)
        except docker.errors.NotFound:
            pass
    return times, claimed


class PeakRSS:
    """Samples the RSS of servers and sandboxes while a block runs."""

    def __init__(self, scope):
        self.scope = scope
        self.peak = {}
        self._stop = threading.Event()

    def _sample(self):
        dock = docker.from_env()
        while not self._stop.is_set():
            for name, pids in server_processes().items():
                if name.startswith(('proxy-server', 'object-server')):
                    rss = max(_rss_kib(p) for p in pids) / 1024
                    self.peak[name] = max(self.peak.get(name, 0), rss)
            try:
                box = dock.containers.get(container_name(self.scope,
                                                         BENCH_NODE))
                stats = box.stats(stream=False)
                rss = stats['memory_stats'].get('usage', 0) / MB
                self.peak['sandbox'] = max(self.peak.get('sandbox', 0), rss)
            except docker.errors.APIError:
                pass
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--huge', action='store_true',
                        help='add 1 GiB (and 10 GiB to --scale)')
    parser.add_argument('--scale', action='store_true',
                        help="add scale.py's tables")
    parser.add_argument('--chart', metavar='PNG',
                        help='with --scale: draw the concurrency table')
    args = parser.parse_args(argv)
    n_lat, reps, conc_s, n_cold = (40, 1, 2, 2) if args.quick else \
        (400, 3, 10, 5)
    conn = swiftclient.Connection(AUTH, os.environ.get('ST_USER',
                                                       'test:tester'),
                                  os.environ.get('ST_KEY', 'testing'))
    conn.put_object('storlet', 'bench_identity.py', identity_source(),
                    headers=storlet_headers())
    container = 'bench'
    conn.put_container(container)
    url, token = conn.get_auth()
    client = Client(url, token)
    sizes = [1024, MB, 100 * MB] + ([1024 * MB] if args.huge else [])
    for size in sizes:
        _, status, _ = client.request(
            'PUT', '%s/o%d' % (container, size),
            {'Content-Length': str(size)}, iter(Body(size)))
        assert status == 201, status
    for _ in range(20):     # warm every worker and daemon
        client.request('GET', '%s/o1024' % container, STORLET)

    rows = []
    plain, storlet = latency(client, '%s/o1024' % container, n_lat)
    p50p, p99p = pct(plain, 50) * 1e3, pct(plain, 99) * 1e3
    p50s, p99s = pct(storlet, 50) * 1e3, pct(storlet, 99) * 1e3
    rows.append(('GET 1 KiB p50 ms', p50p, p50s, '+%.2f ms' % (p50s - p50p)))
    rows.append(('GET 1 KiB p99 ms', p99p, p99s, '+%.2f ms' % (p99s - p99p)))
    for size in sizes[1:]:
        label = '%d MiB' % (size // MB)
        if size == max(sizes):
            with PeakRSS(scope_of('AUTH_test')) as peak:
                r = throughput_get(client, '%s/o%d' % (container, size),
                                   size, reps)
        else:
            r = throughput_get(client, '%s/o%d' % (container, size), size,
                               reps)
        rows.append(('GET %s MB/s' % label, r['plain'], r['storlet'],
                     '%.0f%%' % (100 * r['storlet'] / r['plain'])))
    for size in (MB, 100 * MB):
        r = throughput_put(client, container, size, reps)
        rows.append(('PUT %d MiB MB/s' % (size // MB), r['plain'],
                     r['storlet'], '%.0f%%' % (100 * r['storlet']
                                               / r['plain'])))
    for clients in (8, 32):
        r = concurrent_gets(client, '%s/o1024' % container, clients,
                            conc_s)
        rows.append(('%d clients 1 KiB req/s' % clients, r['plain'][0],
                     r['storlet'][0], '%.0f%%, errors %d/%d' % (
                         100 * r['storlet'][0] / r['plain'][0],
                         r['plain'][1], r['storlet'][1])))
    fresh = fresh_client()
    for _ in range(20):
        fresh.request('GET', 'c/o1024', STORLET)
    plain, storlet = latency(fresh, 'c/o1024', n_lat)
    rows.append(('fresh: GET 1 KiB p50 ms', pct(plain, 50) * 1e3,
                 pct(storlet, 50) * 1e3, '+%.2f ms' % (
                     (pct(storlet, 50) - pct(plain, 50)) * 1e3)))
    r = concurrent_gets(fresh, 'c/o1024', 32, conc_s)
    rows.append(('fresh: 32 clients req/s', r['plain'][0], r['storlet'][0],
                 '%.0f%%, errors %d/%d' % (
                     100 * r['storlet'][0] / r['plain'][0], r['plain'][1],
                     r['storlet'][1])))
    cold, claimed = cold_starts(n_cold)
    rows.append(('cold start ms (p50 of %d)' % n_cold, float('nan'),
                 statistics.median(cold) * 1e3,
                 'min %.0f max %.0f, %d claimed a spare' % (
                     min(cold) * 1e3, max(cold) * 1e3, claimed)))

    print('%-28s %12s %12s   %s' % ('measure', 'plain', 'storlet',
                                    'storlet vs plain'))
    for name, a, b, note in rows:
        print('%-28s %12.2f %12.2f   %s' % (name, a, b, note))
    print('peak RSS MiB during the %d MiB GETs: %s' % (
        max(sizes) // MB, ', '.join('%s %.0f' % kv for kv in
                                    sorted(peak.peak.items()))))
    if args.scale:
        run_scale(args, client, container, conc_s)


def run_scale(args, client, container, seconds):
    quick = args.quick
    table = scale.concurrency(client, '%s/o1024' % container, STORLET,
                              [1, 2, 4, 8, 16, 32, 64],
                              seconds / 2 if quick else 5)
    if args.chart:
        scale.draw(table, args.chart)
    base, token = admin_base()

    def deploy_identity(conn):
        conn.put_object('storlet', 'bench_identity.py', identity_source(),
                        headers=storlet_headers())
    scale.live_sandboxes(base, token, lambda url: Client(url, token),
                         deploy_identity, STORLET, BENCH_NODE,
                         (1, 10) if quick else (1, 10, 50),
                         50 if quick else 200)
    conn = swiftclient.Connection(preauthurl=client.url,
                                  preauthtoken=client.token, retries=0)

    def deploy_named(name):
        # the same code under another name and main module: its own daemon
        conn.put_object('storlet', name, identity_source(),
                        headers=storlet_headers(
                            '%s.IdentityStorlet' % name[:-3]))
        return name
    scale.storlets_per_account(
        client, container, deploy_named,
        lambda name: {'X-Run-Storlet': name}, scope_of('AUTH_test'),
        BENCH_NODE, (1, 10) if quick else (1, 10, 50), 50 if quick else 200)

    def put_object(path, size):
        _, status, _ = client.request('PUT', path,
                                      {'Content-Length': str(size)},
                                      iter(Body(size)))
        assert status == 201, status
    sizes = [1024, MB, 100 * MB, 1024 * MB] + (
        [10 * 1024 * MB] if args.huge else [])
    scale.object_sizes(client, container, STORLET,
                       sizes[:2] if quick else sizes, put_object,
                       lambda: PeakRSS(scope_of('AUTH_test')))


if __name__ == '__main__':
    main()
