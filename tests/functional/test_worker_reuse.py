"""Worker reuse: a Python worker serves many calls of its storlet in turn.

By default (``calls_per_worker = 100``) calls of the same storlet version in
the same account share warm workers, whose module state survives between
calls; a call that fails ends its worker, which never serves again. The
all-in-one gives AUTH_freshworkers ``calls_per_worker = 1``: there every call
gets a worker of its own. The storlet is tests/functional/storlets/
worker_state.py.
"""
import json
import uuid

import pytest
import swiftclient

from tests.functional.conftest import (
    ENABLED, admin_in, deploy, storlet_get)

STORLET = 'functest_worker_state.py'
MAIN = 'functest_worker_state.WorkerStateStorlet'
CALLS = 30


def states(conn, container, count, **params):
    """Run the storlet ``count`` times in turn; its reports, in order."""
    reports = []
    for _ in range(count):
        query = '&'.join('%s=%s' % item for item in params.items())
        _headers, body = storlet_get(conn, container, 'o', STORLET,
                                     query=query or None)
        reports.append(json.loads(body))
    return reports


def served(reports):
    """{pid: the module counters its calls reported, in order}."""
    by_pid = {}
    for report in reports:
        by_pid.setdefault(report['pid'], []).append(report['calls'])
    return by_pid


@pytest.fixture
def reuse_container(conn, container):
    deploy(conn, 'worker_state.py', MAIN, name=STORLET)
    conn.put_object(container, 'o', b'input')
    yield container
    conn.delete_object('storlet', STORLET)


def test_calls_share_warm_workers_whose_state_survives(conn,
                                                       reuse_container):
    by_pid = served(states(conn, reuse_container, CALLS))
    # a few warm workers serve all the calls between them
    assert len(by_pid) < CALLS / 2, by_pid
    for pid, counters in by_pid.items():
        # each worker counted the calls it served: its state survived
        assert counters == sorted(counters), by_pid
        assert counters[-1] >= len(counters), by_pid
    assert max(len(c) for c in by_pid.values()) > 1, by_pid


def test_a_failed_call_ends_its_worker(conn, reuse_container):
    key = uuid.uuid4().hex
    states(conn, reuse_container, 5)     # warm workers, with state
    with pytest.raises(swiftclient.ClientException) as err:
        storlet_get(conn, reuse_container, 'o', STORLET,
                    query='fail=%s' % key)
    assert err.value.http_status == 503
    reports = states(conn, reuse_container, CALLS, failed=key)
    failed_pid = reports[0]['failed_pid']
    assert failed_pid not in served(reports), (failed_pid, reports)


@pytest.fixture(scope='module')
def fresh_account():
    """AUTH_freshworkers (calls_per_worker = 1), set up as the reseller
    admin, with the storlet and an object; removed afterwards."""
    conn = admin_in('AUTH_freshworkers')
    conn.post_account({ENABLED: 'true'})
    container = 'functest-' + uuid.uuid4().hex[:10]
    for name in ('storlet', 'storletlog', container):
        conn.put_container(name)
    deploy(conn, 'worker_state.py', MAIN, name=STORLET)
    conn.put_object(container, 'o', b'input')
    yield conn, container
    for name in ('storlet', 'storletlog', container):
        for obj in conn.get_container(name, full_listing=True)[1]:
            conn.delete_object(name, obj['name'])
        conn.delete_container(name)
    conn.post_account({ENABLED: ''})
    conn.close()


def test_calls_per_worker_1_gives_every_call_a_fresh_worker(fresh_account):
    conn, container = fresh_account
    by_pid = served(states(conn, container, CALLS))
    assert len(by_pid) == CALLS, by_pid
    assert all(counters == [1] for counters in by_pid.values()), by_pid
