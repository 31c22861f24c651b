"""Sandbox lifecycle on the all-in-one: idle sandboxes stop by themselves,
and ``max_containers_per_node`` (6 here) stops the least recently used.

Uses the reseller admin (``admin:admin``) to work in throw-away accounts;
the all-in-one's gateway config gives ``AUTH_idletest`` a 3 s idle timeout.
"""
import time

import docker

from tests.functional import leaks
from tests.functional.conftest import (
    STORLETS_DIR, admin_in, storlet_headers)

MAX_CONTAINERS = 6
#: the storage node these object-side calls run on; each node has its own
#: max_containers_per_node
NODE = leaks.OBJECT_NODE


def prepare(account):
    conn = admin_in(account)
    conn.post_account({'X-Account-Meta-Storlet-Enabled': 'true'})
    conn.put_container('storlet')
    conn.put_container('data')
    with open('%s/identity.py' % STORLETS_DIR, 'rb') as f:
        conn.put_object('storlet', 'identity.py', f.read(),
                        headers=storlet_headers('identity.IdentityStorlet'))
    conn.put_object('data', 'o', account.encode())
    return conn


def invoke(conn, account):
    _, body = conn.get_object('data', 'o',
                              headers={'X-Run-Storlet': 'identity.py'})
    assert body == account.encode()


def running(account):
    box = leaks.sandbox(account, NODE)
    return box is not None and box.status == 'running'


def sandboxes():
    """The running sandboxes of NODE."""
    return docker.from_env().containers.list(
        filters={'label': ['managed_by=storlets', 'storlets.node=' + NODE]})


def test_idle_sandbox_stops_and_comes_back():
    conn = prepare('AUTH_idletest')
    invoke(conn, 'AUTH_idletest')
    assert running('AUTH_idletest')
    deadline = time.monotonic() + 30
    while running('AUTH_idletest') and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not running('AUTH_idletest'), 'idle sandbox still running'
    invoke(conn, 'AUTH_idletest')          # a cold start, no operator action
    assert running('AUTH_idletest')


def test_max_containers_per_node_stops_the_least_recently_used():
    accounts = ['AUTH_lru%d' % i for i in range(MAX_CONTAINERS + 1)]
    conns = {a: prepare(a) for a in accounts}
    for account in accounts:
        invoke(conns[account], account)
        assert len(sandboxes()) <= MAX_CONTAINERS
        time.sleep(0.2)
    assert running(accounts[-1])
    assert not running(accounts[0]), 'the least recently used should go'
    # and the evicted account simply starts again on its next call
    invoke(conns[accounts[0]], accounts[0])
    assert running(accounts[0])
    assert len(sandboxes()) <= MAX_CONTAINERS
