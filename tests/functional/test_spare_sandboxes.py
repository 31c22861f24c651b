"""Spare sandboxes: a cold start claims a sandbox started ahead of time.

Every node of the all-in-one keeps one spare (``spare_sandboxes = 1``). The
first call of a fresh account on node1 (object side) makes node1's spare
that account's sandbox: the same container, renamed; node1 then starts a
new spare; the claimed sandbox holds only the claiming account's code. An
account with options of its own (AUTH_idletest) never claims one.
"""
import json
import os
import time
import uuid

import docker
import pytest

from storlets.gateway.docker import container_name, scope_of
from tests.functional.conftest import ENABLED, admin_in, deploy, storlet_get

NODE = 'node1'
HOST_ROOT = '/var/lib/storlets/' + NODE
PREFIX = container_name('spare-', NODE)
STORLET = 'functest_list_code.py'


def live_spares(dock):
    """{container id: name} of node1's spares whose agent answers."""
    found = {}
    for box in dock.containers.list(filters={'label': 'storlets.node=' +
                                             NODE}):
        spare = box.name[len(PREFIX):]
        if box.name.startswith(PREFIX) and os.path.exists(os.path.join(
                HOST_ROOT, 'run', '.spare-' + spare, 'factory.sock')):
            found[box.id] = box.name
    return found


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.fixture
def fresh_account():
    """A new account (as the reseller admin) with the storlet and o."""
    account = 'AUTH_spare' + uuid.uuid4().hex[:8]
    conn = admin_in(account)
    conn.post_account({ENABLED: 'true'})
    for name in ('storlet', 'c'):
        conn.put_container(name)
    deploy(conn, 'list_code.py', 'functest_list_code.ListCodeStorlet',
           name=STORLET)
    conn.put_object('c', 'o', b'input')
    yield account, conn
    for name in ('storlet', 'c'):
        for obj in conn.get_container(name, full_listing=True)[1]:
            conn.delete_object(name, obj['name'])
        conn.delete_container(name)
    conn.post_account({ENABLED: ''})
    try:
        docker.from_env().containers.get(
            container_name(scope_of(account), NODE)).remove(force=True)
    except docker.errors.NotFound:
        pass
    conn.close()


def test_a_cold_start_claims_the_nodes_spare(fresh_account):
    account, conn = fresh_account
    dock = docker.from_env()
    spares = wait_for(lambda: live_spares(dock))
    assert spares, 'node1 keeps no live spare sandbox'
    _headers, body = storlet_get(conn, 'c', 'o', STORLET)
    mine = dock.containers.get(container_name(scope_of(account), NODE))
    # the account's sandbox is a spare that was ready before the call
    assert mine.id in spares, (mine.name, spares)
    # ... holding this account's code only
    code = json.loads(body)
    assert [files for files in code.values()] == [[STORLET]], code
    # and the node starts another spare
    assert wait_for(lambda: set(live_spares(dock)) - set(spares))


def test_an_account_with_its_own_options_never_claims_a_spare():
    # AUTH_freshworkers has [account:AUTH_freshworkers] options: its sandbox
    # is started for it, never a spare (started with the node's options)
    dock = docker.from_env()
    name = container_name(scope_of('AUTH_freshworkers'), NODE)
    try:
        dock.containers.get(name).stop(timeout=10)   # clean: no socket left
    except docker.errors.NotFound:
        pass
    wait_for(lambda: name not in [c.name for c in dock.containers.list()])
    spares = wait_for(lambda: live_spares(dock))
    assert spares
    conn = admin_in('AUTH_freshworkers')
    conn.post_account({ENABLED: 'true'})
    try:
        for container in ('storlet', 'c'):
            conn.put_container(container)
        deploy(conn, 'list_code.py', 'functest_list_code.ListCodeStorlet',
               name=STORLET)
        conn.put_object('c', 'o', b'input')
        storlet_get(conn, 'c', 'o', STORLET)
        box = dock.containers.get(name)
        assert box.id not in spares
        assert 'storlets.spare' not in box.labels
        assert set(spares) <= set(live_spares(dock))
    finally:
        for container in ('storlet', 'c'):
            for obj in conn.get_container(container, full_listing=True)[1]:
                conn.delete_object(container, obj['name'])
            conn.delete_container(container)
        conn.post_account({ENABLED: ''})
