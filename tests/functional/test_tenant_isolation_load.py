"""One tenant attacks, another keeps being served: a fault-and-load suite
sized for CI (about two minutes on the all-in-one when nothing breaks).

The victim (``AUTH_loadvictim``) times plain GETs and identity-storlet GETs
of its own object: BASELINE of each with nobody attacking, then for as long
as each attack lasts. The attacker (``AUTH_loadattacker``, and for cold
starts ``AUTH_loadattacker0..5``) runs tests/functional/storlets/hostile/
tenant_abuse.py from ATTACK_THREADS threads, in turn, then all mixed:

* ``bad-metadata-get`` / ``-copy`` / ``-put``: output metadata Swift must
  never see (a value too long, too many keys, a key with ``:``, a CR LF);
* ``cold-starts``: the six fresh accounts in turn, so sandboxes start and
  ``max_containers_per_node`` (6) evicts the least recently used;
* ``sleep``, ``cpu``: calls that sleep or burn a CPU for seconds;
* ``tmp-and-memory``: calls that fill /tmp or allocate hundreds of MiB;
* ``extra-resources``: calls with EXTRA_RESOURCES extra inputs each.

Each attack FAILS on any victim error (non-2xx, wrong body), on Swift's
proxy error-limiting a node meanwhile (its log, /var/log/storlets-aio/
proxy-server.log, says so), or on a victim p99 beyond
max(P99_FACTOR x baseline p99, P99_FLOOR) -- a loose bound on purpose:
latency targets belong in the benchmarks, the errors are the assertion.
What the attacker got back does not matter (it is reported).

After an attack that made the proxy error-limit a node, the next one waits
until the limit has expired (error_suppression_interval, 60 s) so it is
measured on its own. The table of p50/p99 per attack is printed at the end
and written as JSON (tenant_load.json in pytest's temporary directory).
"""
import json
import math
import os
import threading
import time
import uuid
from collections import Counter

import pytest
import swiftclient

from tests.functional import leaks
from tests.functional.conftest import AUTH, STORLETS_DIR, storlet_headers

VICTIM = 'AUTH_loadvictim'
ATTACKER = 'AUTH_loadattacker'
FRESH = ['AUTH_loadattacker%d' % i for i in range(6)]
ABUSE = 'tenant_abuse.py'
ABUSE_MAIN = 'tenant_abuse.TenantAbuseStorlet'
VICTIM_STORLET = 'identity.py'
BASELINE = 40
PHASE_SECONDS = 8.0
MIXED_SECONDS = 12.0
ATTACK_THREADS = 3
EXTRA_RESOURCES = 60
P99_FACTOR = 10.0
P99_FLOOR = 5.0
SUPPRESSION_INTERVAL = 60.0
VICTIM_DATA = b'the victim reads this, plain and through a storlet\n' * 64
ATTACK_DATA = b'attacker input\n'
#: What Swift's proxy logs when it stops using a node ("Node will be error
#: limited for 60.00s: ...", older Swifts "Node error limited ...",
#: "ERROR with Object server ... Error limiting").
ERROR_LIMIT_MARKS = ('error limited', 'error limiting')
BAD_METADATA = [
    {'mode': 'meta', 'key': 'k', 'value_len': '300'},
    {'mode': 'meta', 'key': 'k', 'count': '91'},
    {'mode': 'meta', 'key': 'a:b', 'value': 'v'},
    {'mode': 'meta', 'key': 'k', 'value': 'v', 'crlf': '1'},
    {'mode': 'meta', 'key_len': '200', 'value': 'v'},
]
#: phase name -> what was measured (in run order)
RESULTS = {}


def params_headers(params):
    return {'X-Storlet-Parameter-%d' % i: '%s:%s' % kv
            for i, kv in enumerate(sorted(params.items()))}


class Tenant:
    """An account worked as the reseller admin; one connection per call."""

    def __init__(self, account, url, token):
        self.account = account
        self.url = '%s/%s' % (url.rsplit('/', 1)[0], account)
        self.token = token
        self.container = 'load-' + uuid.uuid4().hex[:10]

    def connect(self):
        return swiftclient.Connection(preauthurl=self.url,
                                      preauthtoken=self.token, retries=0,
                                      timeout=90)

    def prepare(self, data, storlets):
        conn = self.connect()
        conn.post_account({'X-Account-Meta-Storlet-Enabled': 'true'})
        conn.put_container('storlet')
        for filename, main in storlets:
            path = os.path.join(STORLETS_DIR, filename)
            with open(path, 'rb') as f:
                conn.put_object('storlet', os.path.basename(filename),
                                f.read(), headers=storlet_headers(main))
        conn.put_container(self.container)
        conn.put_object(self.container, 'o', data)
        conn.close()

    def clean(self, storlets):
        conn = self.connect()
        try:
            for obj in conn.get_container(self.container,
                                          full_listing=True)[1]:
                conn.delete_object(self.container, obj['name'])
            conn.delete_container(self.container)
            for name in storlets:
                conn.delete_object('storlet', name)
            if not conn.get_container('storlet')[1]:
                conn.delete_container('storlet')
            conn.post_account(
                {'X-Remove-Account-Meta-Storlet-Enabled': '1'})
        except swiftclient.ClientException as err:
            print('cleaning %s: %s' % (self.account, err))
        finally:
            conn.close()


# -- the victim ----------------------------------------------------------------

def victim_round(conn, victim, samples):
    """One plain GET and one storlet GET; append (kind, seconds, error)."""
    for kind, headers in (('plain', {}),
                          ('storlet', {'X-Run-Storlet': VICTIM_STORLET})):
        started = time.monotonic()
        error = None
        try:
            _, body = conn.get_object(victim.container, 'o', headers=headers)
            if body != VICTIM_DATA:
                error = 'wrong body (%d bytes)' % len(body)
        except Exception as err:    # any failure is the victim's error
            error = repr(err)[:300]
        samples.append((kind, time.monotonic() - started, error))


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def summarize(samples):
    out = {}
    for kind in ('plain', 'storlet'):
        mine = [s for s in samples if s[0] == kind]
        seconds = [s[1] for s in mine]
        errors = [s[2] for s in mine if s[2]]
        out[kind] = {'n': len(mine), 'p50': percentile(seconds, 50),
                     'p99': percentile(seconds, 99),
                     'max': max(seconds) if seconds else None,
                     'errors': len(errors), 'first_errors': errors[:3]}
    return out


# -- the proxy log ---------------------------------------------------------------

class LogWatch:
    """Proxy-log lines written from now on: error limits, node errors."""

    def __init__(self):
        self.path = leaks.PROXY_LOG
        self.offset = os.path.getsize(self.path)

    def lines(self):
        with open(self.path, 'rb') as f:
            if os.fstat(f.fileno()).st_size >= self.offset:
                f.seek(self.offset)      # else: rotated or truncated
            return f.read().decode('utf-8', 'replace').splitlines()

    def error_limits(self):
        return [line[:400] for line in self.lines()
                if any(m in line.lower() for m in ERROR_LIMIT_MARKS)
                and ('Node' in line or 'Object server' in line)]

    def node_errors(self, accounts):
        return [line[:400] for line in self.lines()
                if any(m in line for m in leaks.NODE_ERROR_MARKS)
                and any('/%s/' % a in line for a in accounts)]


# -- the attacks ---------------------------------------------------------------

class Attack:
    """Calls ``one(conn, n)`` from ``threads`` threads until stopped."""

    def __init__(self, load, one, threads=ATTACK_THREADS):
        self.load = load
        self.one = one
        self.threads = threads
        self.outcomes = Counter()
        self.seconds = []
        self.lock = threading.Lock()
        self.counter = 0

    def next_n(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def run(self, stop):
        conn = self.load.attacker.connect()
        try:
            while not stop.is_set():
                n = self.next_n()
                started = time.monotonic()
                try:
                    outcome = self.one(conn, n)
                except swiftclient.ClientException as err:
                    outcome = err.http_status
                except Exception as err:
                    outcome = type(err).__name__
                    conn.close()
                    conn = self.load.attacker.connect()
                with self.lock:
                    self.outcomes[str(outcome)] += 1
                    self.seconds.append(time.monotonic() - started)
        finally:
            conn.close()


def run_storlet(conn, tenant, params, headers=None, obj='o'):
    h = {'X-Run-Storlet': ABUSE}
    h.update(params_headers(params))
    h.update(headers or {})
    conn.get_object(tenant.container, obj, headers=h)
    return 200


def bad_get(load):
    def one(conn, n):
        return run_storlet(conn, load.attacker,
                           BAD_METADATA[n % len(BAD_METADATA)])
    return [Attack(load, one)]


def bad_put(load):
    def one(conn, n):
        resp = {}
        h = {'X-Run-Storlet': ABUSE}
        h.update(params_headers(BAD_METADATA[n % len(BAD_METADATA)]))
        conn.put_object(load.attacker.container, 'put-%d' % n,
                        ATTACK_DATA, headers=h, response_dict=resp)
        return resp['status']
    return [Attack(load, one)]


def bad_copy(load):
    def one(conn, n):
        resp = {}
        h = {'X-Run-Storlet': ABUSE}
        h.update(params_headers(BAD_METADATA[n % len(BAD_METADATA)]))
        conn.copy_object(load.attacker.container, 'o',
                         '/%s/copy-%d' % (load.attacker.container, n),
                         headers=h, response_dict=resp)
        return resp['status']
    return [Attack(load, one)]


def cold_starts(load):
    def one(_conn, n):
        tenant = load.fresh[n % len(load.fresh)]
        conn = tenant.connect()
        try:
            return run_storlet(conn, tenant, {'mode': 'identity'})
        finally:
            conn.close()
    return [Attack(load, one, threads=2)]


def sleeping(load):
    return [Attack(load, lambda conn, n: run_storlet(
        conn, load.attacker, {'mode': 'sleep', 'seconds': '4'}))]


def cpu(load):
    return [Attack(load, lambda conn, n: run_storlet(
        conn, load.attacker, {'mode': 'burn', 'seconds': '4'}))]


def tmp_and_memory(load):
    def one(conn, n):
        if n % 2:
            params = {'mode': 'tmp', 'mib': '16'}
        else:
            params = {'mode': 'alloc', 'mib': '200', 'seconds': '2'}
        return run_storlet(conn, load.attacker, params)
    return [Attack(load, one)]


def extra_resources(load):
    extras = ','.join('/%s/x%d' % (load.attacker.container, i % 10)
                      for i in range(EXTRA_RESOURCES))
    return [Attack(load, lambda conn, n: run_storlet(
        conn, load.attacker, {'mode': 'identity'},
        {'X-Storlet-Extra-Resources': extras}))]


def mixed(load):
    attacks = []
    for make in (bad_get, bad_copy, bad_put, cold_starts, sleeping, cpu,
                 tmp_and_memory, extra_resources):
        for attack in make(load):
            attack.threads = 1
            attacks.append(attack)
    return attacks


ATTACKS = [
    ('sleep', sleeping, PHASE_SECONDS),
    ('cpu', cpu, PHASE_SECONDS),
    ('tmp-and-memory', tmp_and_memory, PHASE_SECONDS),
    ('extra-resources', extra_resources, PHASE_SECONDS),
    ('cold-starts', cold_starts, PHASE_SECONDS * 2),
    ('bad-metadata-get', bad_get, PHASE_SECONDS),
    ('bad-metadata-copy', bad_copy, PHASE_SECONDS),
    ('bad-metadata-put', bad_put, PHASE_SECONDS),
    ('mixed', mixed, MIXED_SECONDS),
]


# -- the load --------------------------------------------------------------------

class Load:
    def __init__(self):
        url, token = swiftclient.get_auth(AUTH, 'admin:admin', 'admin')
        self.victim = Tenant(VICTIM, url, token)
        self.attacker = Tenant(ATTACKER, url, token)
        self.fresh = [Tenant(a, url, token) for a in FRESH]
        self.baseline = None
        self.limited_until = 0.0

    def victim_loop(self, stop, samples):
        conn = self.victim.connect()
        try:
            while not stop.is_set():
                victim_round(conn, self.victim, samples)
        finally:
            conn.close()

    def phase(self, make, seconds):
        wait = self.limited_until - time.monotonic()
        if wait > 0:
            time.sleep(wait)     # measure this attack on its own
        attacks = make(self)
        watch = LogWatch()
        stop = threading.Event()
        samples = []
        victim = threading.Thread(target=self.victim_loop,
                                  args=(stop, samples), daemon=True)
        threads = [threading.Thread(target=a.run, args=(stop,), daemon=True)
                   for a in attacks for _ in range(a.threads)]
        started = time.monotonic()
        victim.start()
        for thread in threads:
            thread.start()
        limits = []
        while time.monotonic() - started < seconds:
            time.sleep(0.5)
            limits = watch.error_limits()
            if limits:
                break            # the damage is done: stop hurting others
        stop.set()
        for thread in threads + [victim]:
            thread.join(120)
        limits = watch.error_limits()
        if limits:
            self.limited_until = time.monotonic() + SUPPRESSION_INTERVAL + 1
        outcomes = Counter()
        calls = []
        for attack in attacks:
            outcomes.update(attack.outcomes)
            calls += attack.seconds
        return {
            'seconds': round(time.monotonic() - started, 1),
            'victim': summarize(samples),
            'attacker_outcomes': dict(outcomes),
            'attacker_call_p50': percentile(calls, 50),
            'attacker_call_max': max(calls) if calls else None,
            'error_limits': limits[:5],
            'attacker_node_errors': len(watch.node_errors(
                [ATTACKER] + FRESH)),
            'victim_node_errors': len(watch.node_errors([VICTIM])),
        }


def table(baseline, results):
    lines = ['%-18s %-7s %5s %8s %8s %8s %6s  %s' % (
        'attack', 'victim', 'n', 'p50 s', 'p99 s', 'max s', 'errors',
        'error limits / attacker node errors / attacker calls')]
    rows = [('baseline', {'victim': baseline})] + list(results.items())
    for name, result in rows:
        for kind in ('plain', 'storlet'):
            v = result['victim'][kind]
            extra = ''
            if kind == 'plain' and name != 'baseline':
                extra = '%d / %d / p50 %s s: %s' % (
                    len(result['error_limits']),
                    result['attacker_node_errors'],
                    _f(result['attacker_call_p50']),
                    ' '.join('%s:%d' % kv for kv in sorted(
                        result['attacker_outcomes'].items())))
            lines.append('%-18s %-7s %5d %8s %8s %8s %6d  %s' % (
                name, kind, v['n'], _f(v['p50']), _f(v['p99']),
                _f(v['max']), v['errors'], extra))
    return '\n'.join(lines)


def _f(value):
    return '-' if value is None else '%.3f' % value


@pytest.fixture(scope='module')
def load(request, tmp_path_factory):
    load = Load()
    load.victim.prepare(VICTIM_DATA, [('identity.py',
                                       'identity.IdentityStorlet')])
    abuse = [('hostile/' + ABUSE, ABUSE_MAIN)]
    load.attacker.prepare(ATTACK_DATA, abuse)
    conn = load.attacker.connect()
    for i in range(10):
        conn.put_object(load.attacker.container, 'x%d' % i, b'extra %d\n' % i)
    conn.close()
    for tenant in load.fresh:
        tenant.prepare(ATTACK_DATA, abuse)
    # warm: the victim's and the attacker's sandboxes are up
    conn = load.attacker.connect()
    run_storlet(conn, load.attacker, {'mode': 'identity'})
    conn.close()
    samples = []
    conn = load.victim.connect()
    victim_round(conn, load.victim, [])
    for _ in range(BASELINE):
        victim_round(conn, load.victim, samples)
    conn.close()
    load.baseline = summarize(samples)
    yield load
    report = table(load.baseline, RESULTS)
    path = tmp_path_factory.mktemp('tenant-load') / 'tenant_load.json'
    path.write_text(json.dumps({'baseline': load.baseline,
                                'attacks': RESULTS}, indent=1))
    capture = request.config.pluginmanager.get_plugin('capturemanager')
    with capture.global_and_fixture_disabled():
        print('\nvictim latency per attack (%s):\n%s' % (path, report))
    # a node error-limited by an attack refuses the clean-up meanwhile
    time.sleep(max(0.0, load.limited_until - time.monotonic()))
    load.victim.clean([VICTIM_STORLET])
    for tenant in [load.attacker] + load.fresh:
        tenant.clean([ABUSE])


def test_baseline_has_no_errors(load):
    for kind in ('plain', 'storlet'):
        assert load.baseline[kind]['errors'] == 0, load.baseline


@pytest.mark.parametrize('name,make,seconds', ATTACKS,
                         ids=[a[0] for a in ATTACKS])
def test_victim_is_served_during(load, name, make, seconds):
    result = load.phase(make, seconds)
    RESULTS[name] = result
    problems = []
    for kind in ('plain', 'storlet'):
        victim = result['victim'][kind]
        bound = max(P99_FACTOR * load.baseline[kind]['p99'], P99_FLOOR)
        if victim['n'] == 0:
            problems.append('no victim %s GET finished' % kind)
        if victim['errors']:
            problems.append('victim %s GET errors: %d of %d, e.g. %s' % (
                kind, victim['errors'], victim['n'], victim['first_errors']))
        if victim['p99'] is not None and victim['p99'] > bound:
            problems.append('victim %s GET p99 %.2f s > %.2f s' % (
                kind, victim['p99'], bound))
    if result['error_limits']:
        problems.append('the proxy error-limited a node (%d attacker '
                        'requests counted as node errors): %s' % (
                            result['attacker_node_errors'],
                            result['error_limits'][:2]))
    assert not problems, '%s: %s\n%s' % (name, '; '.join(problems),
                                          table(load.baseline,
                                                {name: result}))
