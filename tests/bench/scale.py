"""How the cost of a storlet call grows with work: the bench's scale tables.

Run by ``python -m tests.bench.bench --scale`` against the all-in-one, after
the main table. Four sections, each printed as a table from one run:

- concurrency 1..64 clients of 1 KiB GETs: req/s and p99 for plain Swift and
  the storlet, side by side (and drawn as a PNG chart with ``--chart``);
- live sandboxes: calls spread round-robin over 1, 10 and 50 accounts, each
  with its own sandbox: added latency, sandboxes started on the bench node
  while it ran (LRU churn once the accounts outnumber
  ``max_containers_per_node``), memory per live sandbox;
- storlets per account: calls spread over 1, 10 and 50 distinct storlets in
  one account: added latency and the sandbox's memory;
- object size 1 KiB .. 1 GiB (10 GiB with ``--huge``): GET throughput and
  the peak RSS of the servers and the sandbox, which must stay flat.
"""
from concurrent.futures import ThreadPoolExecutor
import statistics
import threading
import time

import docker
import swiftclient

from storlets.gateway.docker import NODE_LABEL, container_name, scope_of

MB = 1024 * 1024


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def _load(client, path, headers, clients, seconds):
    """``clients`` threads GET ``path`` for ``seconds``: (req/s, p99 s,
    errors)."""
    times, errors, stop = [], [0], time.monotonic() + seconds
    lock = threading.Lock()

    def loop():
        while time.monotonic() < stop:
            took, status, _ = client.request('GET', path, headers)
            with lock:
                if status == 200:
                    times.append(took)
                else:
                    errors[0] += 1
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(loop)
    rate = len(times) / (time.monotonic() - started)
    return rate, (pct(times, 99) if times else float('nan')), errors[0]


def concurrency(client, path, storlet, levels, seconds):
    """[(clients, plain (req/s, p99, errors), storlet (...))]"""
    table = []
    for n in levels:
        plain = _load(client, path, {}, n, seconds)
        ran = _load(client, path, storlet, n, seconds)
        table.append((n, plain, ran))
    print('\nconcurrency, 1 KiB GETs (%g s per cell)' % seconds)
    print('%8s %12s %12s %10s %12s %12s %8s' % (
        'clients', 'plain req/s', 'storlet', 'ratio', 'plain p99 ms',
        'storlet p99', 'errors'))
    for n, plain, ran in table:
        print('%8d %12.0f %12.0f %9.0f%% %12.1f %12.1f %8s' % (
            n, plain[0], ran[0], 100 * ran[0] / plain[0], plain[1] * 1e3,
            ran[1] * 1e3, '%d/%d' % (plain[2], ran[2])))
    return table


def draw(table, png):
    """The concurrency table as a chart: req/s and p99 against clients."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    levels = [row[0] for row in table]
    fig, (rate_ax, p99_ax) = pyplot.subplots(1, 2, figsize=(10, 4))
    for index, label in ((1, 'plain Swift GET'), (2, 'storlet GET')):
        rate_ax.plot(levels, [row[index][0] for row in table], marker='o',
                     label=label)
        p99_ax.plot(levels, [row[index][1] * 1e3 for row in table],
                    marker='o', label=label)
    rate_ax.set(xscale='log', xlabel='concurrent clients',
                ylabel='requests/s', title='1 KiB GETs: throughput')
    p99_ax.set(xscale='log', xlabel='concurrent clients',
               ylabel='p99 latency (ms)', title='1 KiB GETs: p99 latency')
    for ax in (rate_ax, p99_ax):
        ax.set_xticks(levels, [str(n) for n in levels])
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    pyplot.close(fig)
    print('chart written to %s' % png)


def _sandboxes(dock, node):
    return [c for c in dock.containers.list()
            if c.labels.get(NODE_LABEL) == node]


def _memory_mib(box):
    stats = box.stats(stream=False)
    return stats.get('memory_stats', {}).get('usage', 0) / MB


class StartCounter:
    """Counts the sandboxes started on ``node`` while the block runs.

    Listens to Docker's live event stream: dockerd replays only its last
    256 events to a ``since`` query, too few for a churning node.
    """

    def __init__(self, dock, node):
        self.events = dock.events(decode=True, filters={
            'type': 'container', 'event': 'start',
            'label': '%s=%s' % (NODE_LABEL, node)})
        self.started = 0
        self._thread = threading.Thread(target=self._count, daemon=True)

    def _count(self):
        try:
            for _ in self.events:
                self.started += 1
        except Exception:   # the stream closed under the loop
            pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)     # the last events on their way
        self.events.close()
        self._thread.join(5)


def _rounds(calls, count):
    """Round-robin over ``count`` targets, at least ``calls`` calls."""
    rounds = max(1, -(-calls // count))
    return [i for _ in range(rounds) for i in range(count)]


def live_sandboxes(base, token, make_client, deploy_identity, storlet,
                   node, counts, calls):
    """Calls spread over ``counts`` accounts, each with its own sandbox."""
    dock = docker.from_env()
    accounts = []
    scopes = set()
    for i in range(max(counts)):
        account = 'AUTH_scale%02d' % i
        scopes.add(scope_of(account))
        conn = swiftclient.Connection(preauthurl='%s/%s' % (base, account),
                                      preauthtoken=token, retries=0)
        conn.post_account({'X-Account-Meta-Storlet-Enabled': 'true'})
        conn.put_container('storlet')
        conn.put_container('c')
        deploy_identity(conn)
        conn.put_object('c', 'o', b'x' * 1024)
        accounts.append(make_client('%s/%s' % (base, account)))
    print('\nlive sandboxes: calls round-robin over N accounts (1 KiB GET)')
    print('%9s %8s %10s %10s %10s %12s %14s' % (
        'accounts', 'calls', 'plain p50', 'added p50', 'added p99',
        'starts', 'MiB/sandbox'))
    for count in counts:
        order = _rounds(calls, count)
        for i in range(count):     # each account's sandbox up, if it fits
            accounts[i].request('GET', 'c/o', storlet)
        plain, ran = [], []
        with StartCounter(dock, node) as starts:
            for i in order:
                plain.append(accounts[i].request('GET', 'c/o')[0])
                took, status, _ = accounts[i].request('GET', 'c/o', storlet)
                assert status == 200, status
                ran.append(took)
        boxes = [b for b in _sandboxes(dock, node)
                 if b.labels.get('storlets.scope') in scopes]
        per_box = (statistics.mean(_memory_mib(b) for b in boxes)
                   if boxes else float('nan'))
        print('%9d %8d %10.2f %10.2f %10.2f %12d %14.1f' % (
            count, len(order), pct(plain, 50) * 1e3,
            (pct(ran, 50) - pct(plain, 50)) * 1e3,
            (pct(ran, 99) - pct(plain, 99)) * 1e3, starts.started, per_box))
    return accounts


def storlets_per_account(client, container, deploy_named, storlet_for,
                         scope, node, counts, calls):
    """Calls spread over ``counts`` distinct storlets in one account."""
    dock = docker.from_env()
    names = [deploy_named('bench_scale_%02d.py' % i)
             for i in range(max(counts))]
    print('\nstorlets per account: calls round-robin over N storlets '
          '(1 KiB GET)')
    print('%9s %8s %10s %10s %10s %14s' % (
        'storlets', 'calls', 'plain p50', 'added p50', 'added p99',
        'sandbox MiB'))
    path = '%s/o1024' % container
    for count in counts:
        for name in names[:count]:      # warm each storlet's daemon
            client.request('GET', path, storlet_for(name))
        plain, ran = [], []
        for i in _rounds(calls, count):
            plain.append(client.request('GET', path)[0])
            took, status, _ = client.request('GET', path,
                                             storlet_for(names[i]))
            assert status == 200, status
            ran.append(took)
        try:
            memory = _memory_mib(dock.containers.get(
                container_name(scope, node)))
        except docker.errors.NotFound:
            memory = float('nan')
        print('%9d %8d %10.2f %10.2f %10.2f %14.1f' % (
            count, len(_rounds(calls, count)), pct(plain, 50) * 1e3,
            (pct(ran, 50) - pct(plain, 50)) * 1e3,
            (pct(ran, 99) - pct(plain, 99)) * 1e3, memory))


def object_sizes(client, container, storlet, sizes, put_object,
                 measure_rss):
    """GET throughput and peak RSS per object size."""
    print('\nobject size: GET MB/s and peak RSS MiB (servers, sandbox)')
    print('%10s %12s %12s %8s   %s' % ('size', 'plain MB/s', 'storlet',
                                       'ratio', 'peak RSS MiB'))
    for size in sizes:
        path = '%s/scale-%d' % (container, size)
        put_object(path, size)
        rates = {}
        # small objects: the median of several GETs; large: one each
        reps = max(1, min(20, 256 * MB // size))
        with measure_rss() as peak:
            for name, headers in (('plain', {}), ('storlet', storlet)):
                took = []
                for _ in range(reps):
                    seconds, status, got = client.request('GET', path,
                                                          headers)
                    assert status == 200 and got == size, (name, status,
                                                           got)
                    took.append(seconds)
                rates[name] = size / statistics.median(took) / MB
        label = ('%d KiB' % (size // 1024) if size < MB else
                 '%d MiB' % (size // MB) if size < 1024 * MB else
                 '%d GiB' % (size // (1024 * MB)))
        print('%10s %12.1f %12.1f %7.0f%%   %s' % (
            label, rates['plain'], rates['storlet'],
            100 * rates['storlet'] / rates['plain'],
            ', '.join('%s %.0f' % kv for kv in sorted(peak.peak.items()))))
        client.request('DELETE', path)
