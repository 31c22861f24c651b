"""A full node under concurrency, and the node's code cache collection.

With ``max_containers_per_node`` (6 on the all-in-one) reached, cold starts
of other accounts never stop a sandbox serving a call: they evict an idle
one or get ``503`` with ``Retry-After``, and ``docker ps`` never shows more
than the limit. Superseded storlet versions leave the host's cache
(``cache_collect_interval`` is 2 s on the all-in-one).
"""
import json
import os
import threading
import time
import uuid

import swiftclient

from storlets.gateway.docker import scope_of
from tests.functional.conftest import STORLETS_DIR, deploy, storlet_get
from tests.functional import leaks
from tests.functional.test_lifecycle import (
    MAX_CONTAINERS, NODE, prepare, running, sandboxes)

HOST_ROOT = leaks.host_root(NODE)
LONG_SECONDS = 8     # below the all-in-one's storlet_timeout (15)


class Peak(threading.Thread):
    """Polls ``docker ps`` (by label) and keeps the highest count of NODE's
    sandboxes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop = 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, len(sandboxes()))
            time.sleep(0.1)


def slow_get(conn, seconds):
    """(status, headers, body) of a GET through slow.py."""
    try:
        headers, body = conn.get_object(
            'data', 'o', headers={'X-Run-Storlet': 'slow.py',
                                  'X-Storlet-Parameter-1':
                                  'seconds:%s' % seconds})
        return 200, headers, body
    except swiftclient.ClientException as err:
        return err.http_status, err.http_response_headers or {}, \
            err.http_response_content


def cleanup(conn):
    for container in ('storlet', 'data', 'log', 'dependency'):
        try:
            for obj in conn.get_container(container, full_listing=True)[1]:
                conn.delete_object(container, obj['name'])
            conn.delete_container(container)
        except swiftclient.ClientException:
            pass
    conn.post_account({'X-Account-Meta-Storlet-Enabled': ''})


def test_a_call_in_flight_survives_a_full_node_of_cold_starts():
    run = uuid.uuid4().hex[:6]
    long_account = 'AUTH_evlong%s' % run
    others = ['AUTH_ev%s%d' % (run, i) for i in range(MAX_CONTAINERS + 1)]
    conns = {a: prepare(a) for a in [long_account] + others}
    for conn in conns.values():
        deploy(conn, 'slow.py', 'slow.SlowStorlet')
    peak = Peak()
    peak.start()
    results = {}

    def call(account, seconds):
        results[account] = slow_get(conns[account], seconds)

    try:
        long_call = threading.Thread(target=call,
                                     args=(long_account, LONG_SECONDS))
        long_call.start()
        deadline = time.monotonic() + 20
        while not running(long_account) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)        # its call is in flight in the sandbox now
        newcomers = [threading.Thread(target=call, args=(a, 3))
                     for a in others]
        for t in newcomers:
            t.start()
        for t in newcomers + [long_call]:
            t.join(60)
        status, _, body = results[long_account]
        assert (status, body) == (200, b'finally')
        for account in others:
            status, headers, body = results[account]
            if status == 200:
                assert body == b'finally'
            else:
                assert status == 503, (account, status, body)
                assert b'too many active storlet sandboxes' in body
                assert 'retry-after' in {k.lower() for k in headers}
        assert any(results[a][0] == 200 for a in others)
    finally:
        peak.stop.set()
        peak.join()
        for conn in conns.values():
            cleanup(conn)
    assert 0 < peak.peak <= MAX_CONTAINERS


def cached_versions(scope, name):
    """{key: storlet file contents} of the versions of ``name`` on disk."""
    found = {}
    root = os.path.join(HOST_ROOT, 'cache', scope)
    for key in os.listdir(root):
        path = os.path.join(root, key, name)
        if not key.startswith('.') and os.path.exists(path):
            with open(path, 'rb') as f:
                found[key] = f.read()
    return found


def test_only_the_newest_version_of_a_storlet_stays_cached(conn, container):
    module = 'cachetest_%s' % uuid.uuid4().hex[:8]
    name = module + '.py'
    with open(os.path.join(STORLETS_DIR, 'identity.py'), 'rb') as f:
        code = f.read()
    conn.put_object(container, 'o', b'data')
    scope = scope_of(conn.url.rsplit('/', 1)[1])
    try:
        versions = []
        for v in range(5):
            source = code + b'\n# version %d\n' % v
            deploy(conn, None, module + '.IdentityStorlet', name=name,
                   source=source)
            versions.append(source)
            _, body = storlet_get(conn, container, 'o', name)
            assert body == b'data'
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cached = cached_versions(scope, name)
            if list(cached.values()) == [versions[-1]]:
                break
            time.sleep(1)
            storlet_get(conn, container, 'o', name)   # triggers collection
        assert list(cached.values()) == [versions[-1]]
        with open(os.path.join(HOST_ROOT, 'versions', scope,
                               list(cached)[0])) as f:
            assert json.load(f)['name'] == name
        markers = [k for k in os.listdir(os.path.join(HOST_ROOT, 'versions',
                                                      scope))
                   if json.load(open(os.path.join(
                       HOST_ROOT, 'versions', scope, k))).get('name') == name]
        assert markers == list(cached)
    finally:
        conn.delete_object('storlet', name)
