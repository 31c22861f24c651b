"""Soak the all-in-one with storlet invocations and report what grew.

Runs N invocations of the identity storlet on small objects at a given
concurrency against the running all-in-one, then prints errors, latency
percentiles and, for every Swift server process and for Docker, the open
file descriptors, process counts, RSS and sandbox containers before and
after. Exits 1 if any invocation failed or anything kept growing.

    /opt/storlets/venv/bin/python -m tests.soak.soak --count 10000 --concurrency 16

This is a script, not a timed test: CI runs a short count of it
(``tests/functional/test_soak.py``); run the full count by hand.
"""
import argparse
import concurrent.futures
import glob
import http.client
import os
import statistics
import sys
import threading
import time

import docker
import swiftclient

PID_DIR = '/var/run/storlets-aio'
#: Seconds the load's extra sandbox processes may take to go: a burst grows
#: a storlet's pool of warm workers, and the pairs beyond its spares retire
#: after 10 idle seconds (the agent's daemon.EXTRA_PAIR_IDLE).
SETTLE_SECONDS = 25
AUTH = os.environ.get('ST_AUTH', 'http://127.0.0.1:8080/auth/v1.0')


def server_processes():
    """{name: [pids]} of the all-in-one's servers (parents and workers)."""
    procs = {}
    for pidfile in sorted(glob.glob(os.path.join(PID_DIR, '*.pid'))):
        name = os.path.basename(pidfile)[:-4]
        try:
            parent = int(open(pidfile).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        procs[name] = [parent] + children(parent)
    return procs


def children(parent):
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            found.append(int(pid))
    return found


def _fds(pid):
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return 0


def _rss_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def snapshot():
    """Resources of every server and of the sandboxes, right now."""
    stats = {}
    for name, pids in server_processes().items():
        stats[name] = {'procs': len(pids),
                       'fds': sum(_fds(p) for p in pids),
                       'rss_mib': round(sum(_rss_kib(p) for p in pids) / 1024,
                                        1)}
    client = docker.from_env()
    sandboxes = client.containers.list(filters={'label': 'managed_by=storlets'})
    stats['sandboxes'] = {
        'procs': sum(len(c.top()['Processes']) for c in sandboxes),
        'fds': 0, 'rss_mib': 0.0, 'containers': len(sandboxes)}
    return stats


class Invoker:
    """Keep-alive HTTP connections, one per thread."""

    def __init__(self, url, token):
        self.host = url.split('/')[2]
        self.path = '/' + url.split('/', 3)[3]
        self.token = token
        self.local = threading.local()
        self.connections = []   # every thread's, closed by close()

    def get(self, obj, headers):
        conn = getattr(self.local, 'conn', None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                self.host, timeout=60)
            self.connections.append(conn)
        h = dict(headers, **{'X-Auth-Token': self.token})
        started = time.monotonic()
        try:
            conn.request('GET', '%s/%s' % (self.path, obj), headers=h)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as err:
            self.local.conn = None
            conn.close()
            return time.monotonic() - started, 'error: %s' % err, b''
        return time.monotonic() - started, resp.status, body

    def close(self):
        """Close the client's keep-alive connections (the proxy would
        otherwise count them as descriptors it holds)."""
        for conn in self.connections:
            conn.close()
        self.connections = []


def prepare(conn, container, storlet_source):
    conn.put_container(container)
    conn.put_object('storlet', 'soak_identity.py', storlet_source, headers={
        'X-Object-Meta-Storlet-Language': 'Python',
        'X-Object-Meta-Storlet-Interface-Version': '1.0',
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': 'soak_identity.IdentityStorlet'})
    payload = os.urandom(1024)
    for i in range(16):
        conn.put_object(container, 'o%d' % i, payload)
    return payload


def soak(count, concurrency, container='soak'):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, '..', 'functional', 'storlets',
                           'identity.py'), 'rb') as f:
        source = f.read()
    conn = swiftclient.Connection(AUTH, os.environ.get('ST_USER', 'test:tester'),
                                  os.environ.get('ST_KEY', 'testing'))
    payload = prepare(conn, container, source)
    url, token = conn.get_auth()
    invoker = Invoker(url, token)
    headers = {'X-Run-Storlet': 'soak_identity.py'}
    # Warm up: every object server's daemon, every proxy worker.
    for i in range(32):
        invoker.get('%s/o%d' % (container, i % 16), headers)
    invoker.close()
    time.sleep(1)
    before = snapshot()
    latencies, errors = [], []

    def one(i):
        elapsed, status, body = invoker.get('%s/o%d' % (container, i % 16),
                                            headers)
        if status != 200 or body != payload:
            errors.append((i, status, body[:100]))
        latencies.append(elapsed)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    wall = time.monotonic() - started
    invoker.close()
    after = settled(before)
    return report(count, concurrency, wall, latencies, errors, before, after)


def growing(before, after):
    """Names of what has more processes or descriptors than before."""
    grew = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, {}), after.get(name, {})
        if a.get('procs', 0) > b.get('procs', 0) or \
                a.get('fds', 0) > b.get('fds', 0) + 8:
            grew.append(name)
    if after['sandboxes']['containers'] > before['sandboxes']['containers']:
        grew.append('containers')
    return grew


def settled(before):
    """A snapshot once nothing has grown since ``before``, or the last one
    taken within SETTLE_SECONDS (servers close idle connections, pools
    shrink back)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        time.sleep(1)
        after = snapshot()
        if not growing(before, after) or time.monotonic() >= deadline:
            return after


def report(count, concurrency, wall, latencies, errors, before, after):
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1,   # noqa: E731
                                  int(p / 100.0 * len(latencies)))] * 1000
    print('soak: %d invocations at concurrency %d in %.1f s (%.0f req/s)'
          % (count, concurrency, wall, count / wall))
    print('errors: %d' % len(errors))
    for err in errors[:5]:
        print('  %r' % (err,))
    print('latency ms: p50 %.1f  p99 %.1f  max %.1f  mean %.1f' % (
        pct(50), pct(99), latencies[-1] * 1000,
        statistics.mean(latencies) * 1000))
    print('%-24s %14s %14s %18s' % ('process', 'procs b/a', 'fds b/a',
                                    'rss MiB b/a'))
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, {}), after.get(name, {})
        print('%-24s %6s/%-7s %6s/%-7s %8s/%-9s' % (
            name, b.get('procs'), a.get('procs'), b.get('fds'), a.get('fds'),
            b.get('rss_mib'), a.get('rss_mib')))
    print('sandbox containers before/after: %s/%s' % (
        before['sandboxes']['containers'], after['sandboxes']['containers']))
    grew = growing(before, after)
    print('growing: %s' % (', '.join(grew) or 'nothing'))
    return not errors and not grew


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=10000)
    parser.add_argument('--concurrency', type=int, default=16)
    args = parser.parse_args(argv)
    return 0 if soak(args.count, args.concurrency) else 1


if __name__ == '__main__':
    sys.exit(main())
