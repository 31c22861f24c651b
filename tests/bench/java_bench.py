"""Java storlets vs Python storlets vs plain Swift, side by side, in one run.

Against the running all-in-one with the Java image (``devstack/aio.sh up``).
Both storlets are identities that copy with 64 KiB reads and writes (the
Java one is the sample ``identitystorlet-1.0.jar``), so the engines are
what is compared. Every figure is measured now, for all three paths, and
reported as a ratio:

    /opt/storlets/venv/bin/python -m tests.bench.java_bench [--quick]

Rows: 1 KiB GET latency (p50/p99), 100 MiB GET throughput, 8 concurrent
clients (req/s), and the cold start of a storlet version (first call after
an upload: a new daemon; for Java, a new JVM) in a running sandbox.
"""
import argparse
import os
import statistics
import time

import swiftclient

from tests.bench.bench import AUTH, IDENTITY, MB, Body, Client, pct
from tests.bench import bench
from tests.functional.java_build import java_build

PY_NAME = 'bench_identity.py'
JAVA_NAME = 'bench-identity-1.0.jar'
PATHS = (('plain', {}),
         ('python', {'X-Run-Storlet': PY_NAME}),
         ('java', {'X-Run-Storlet': JAVA_NAME}))


def registration(language, main):
    return {'X-Object-Meta-Storlet-Language': language,
            'X-Object-Meta-Storlet-Interface-Version': '1.0',
            'X-Object-Meta-Storlet-Object-Metadata': 'no',
            'X-Object-Meta-Storlet-Main': main}


def deploy(conn):
    with open(IDENTITY, 'rb') as f:
        conn.put_object('storlet', PY_NAME, f.read(), headers=registration(
            'Python', 'bench_identity.IdentityStorlet'))
    with open(java_build().sample_jar('identitystorlet-1.0.jar'), 'rb') as f:
        conn.put_object('storlet', JAVA_NAME, f.read(), headers=registration(
            'Java', 'org.openstack.storlet.identity.IdentityStorlet'))


def latencies(client, path, n):
    out = {name: [] for name, _ in PATHS}
    for _ in range(n):      # interleaved, so noise hits all alike
        for name, headers in PATHS:
            seconds, status, _ = client.request('GET', path, headers)
            assert status == 200, (name, status)
            out[name].append(seconds)
    return out


def throughput(client, path, size, reps):
    rates = {name: [] for name, _ in PATHS}
    for _ in range(reps):
        for name, headers in PATHS:
            seconds, status, got = client.request('GET', path, headers)
            assert status == 200 and got == size, (name, status, got)
            rates[name].append(size / seconds / MB)
    return {k: statistics.median(v) for k, v in rates.items()}


def concurrency(client, path, clients, seconds):
    out = {}
    for name, headers in PATHS:
        bench.STORLET = headers
        out[name] = bench.concurrent_gets(client, path, clients,
                                          seconds)['storlet']
    return out


def version_cold_starts(conn, client, path, n):
    """First call after each new upload: a new daemon (Java: a new JVM)."""
    out = {'python': [], 'java': []}
    for _ in range(n):
        deploy(conn)        # new versions of both
        for name, headers in PATHS[1:]:
            client.request('GET', path)   # a live keep-alive connection
            seconds, status, _ = client.request('GET', path, headers)
            assert status == 200, (name, status)
            out[name].append(seconds)
        time.sleep(0.5)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args(argv)
    n_lat, reps, conc_s, n_cold = (40, 1, 2, 2) if args.quick else \
        (300, 3, 10, 5)
    conn = swiftclient.Connection(AUTH, os.environ.get('ST_USER',
                                                       'test:tester'),
                                  os.environ.get('ST_KEY', 'testing'))
    deploy(conn)
    conn.put_container('bench')
    client = Client(*conn.get_auth())
    for size in (1024, 100 * MB):
        _, status, _ = client.request(
            'PUT', 'bench/o%d' % size, {'Content-Length': str(size)},
            iter(Body(size)))
        assert status == 201, status
    for _ in range(20):     # warm both daemons
        for _, headers in PATHS[1:]:
            client.request('GET', 'bench/o1024', headers)

    rows = []
    lat = latencies(client, 'bench/o1024', n_lat)
    for p in (50, 99):
        values = {k: pct(v, p) * 1e3 for k, v in lat.items()}
        rows.append(('GET 1 KiB p%d ms' % p, values, '+%.2f / +%.2f ms' % (
            values['python'] - values['plain'],
            values['java'] - values['plain'])))
    r = throughput(client, 'bench/o%d' % (100 * MB), 100 * MB, reps)
    rows.append(('GET 100 MiB MB/s', r, '%.0f%% / %.0f%% of plain' % (
        100 * r['python'] / r['plain'], 100 * r['java'] / r['plain'])))
    c = concurrency(client, 'bench/o1024', 8, conc_s)
    rows.append(('8 clients 1 KiB req/s', {k: v[0] for k, v in c.items()},
                 '%.0f%% / %.0f%% of plain, errors %d/%d' % (
                     100 * c['python'][0] / c['plain'][0],
                     100 * c['java'][0] / c['plain'][0],
                     c['python'][1], c['java'][1])))
    cold = version_cold_starts(conn, client, 'bench/o1024', n_cold)
    values = {'plain': float('nan')}
    values.update({k: statistics.median(v) * 1e3 for k, v in cold.items()})
    rows.append(('new version 1st call ms', values, 'p50 of %d' % n_cold))

    print('%-26s %10s %10s %10s   %s' % ('measure', 'plain', 'python',
                                         'java', 'python / java'))
    for name, v, note in rows:
        print('%-26s %10.2f %10.2f %10.2f   %s' % (
            name, v['plain'], v['python'], v['java'], note))


if __name__ == '__main__':
    main()
