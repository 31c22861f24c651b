"""X-Storlet-Generate-Log (docs/api.md): the log lines of one
invocation are stored, text/plain, as storletlog/<storlet name>.log."""
import time
import uuid

import pytest
from swiftclient import ClientException

from tests.functional.conftest import deploy

STORLET = 'logging_storlet.py'
MAIN = 'logging_storlet.LoggingStorlet'
LOG_CONTAINER = 'storletlog'
LOG_OBJECT = STORLET + '.log'
DATA = b'data for the logging storlet\n'
# Where the storlet runs: on an object server (default) or on the proxy.
WHERE = {
    'object': {},
    'proxy': {'X-Storlet-Run-On-Proxy': ''},
}


@pytest.fixture(scope='module')
def logging_storlet(conn):
    deploy(conn, STORLET, MAIN)
    return STORLET


def delete_log(conn):
    try:
        conn.delete_object(LOG_CONTAINER, LOG_OBJECT)
    except ClientException as err:
        if err.http_status != 404:
            raise


@pytest.fixture
def source(conn, container, logging_storlet):
    """An input object; no log object before the test nor after it."""
    conn.put_object(container, 'o', DATA)
    delete_log(conn)
    yield container
    delete_log(conn)


def run(conn, container, where, marker, generate_log='true', **params):
    headers = {'X-Run-Storlet': STORLET,
               'X-Storlet-Parameter-1': 'marker:%s' % marker}
    for i, (key, value) in enumerate(sorted(params.items()), 2):
        headers['X-Storlet-Parameter-%d' % i] = '%s:%s' % (key, value)
    if generate_log is not None:
        headers['X-Storlet-Generate-Log'] = generate_log
    headers.update(WHERE[where])
    return conn.get_object(container, 'o', headers=headers)


def wait_for_log(conn, text, timeout=10):
    """The log object (headers, body) once it contains ``text``."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            headers, body = conn.get_object(LOG_CONTAINER, LOG_OBJECT)
            last = body
            if text.encode() in body:
                return headers, body.decode('utf-8')
        except ClientException as err:
            if err.http_status != 404:
                raise
        if time.monotonic() > deadline:
            pytest.fail('%s/%s never contained %r; last content: %r'
                        % (LOG_CONTAINER, LOG_OBJECT, text, last))
        time.sleep(0.2)


@pytest.mark.parametrize('where', sorted(WHERE))
def test_log_of_the_invocation_is_uploaded(conn, source, where):
    marker = uuid.uuid4().hex
    headers, body = run(conn, source, where, marker)
    assert body == DATA
    assert headers['x-storlet-executed'] == where
    # the last line is written after the storlet closed its output: the log
    # must be taken once the storlet has finished
    log_headers, log = wait_for_log(conn, 'output closed %s' % marker)
    assert log_headers['content-type'].split(';')[0] == 'text/plain'
    lines = log.splitlines()
    assert lines == ['%s INFO: start %s' % (MAIN, marker),
                     '%s INFO: output closed %s' % (MAIN, marker)]


@pytest.mark.parametrize('where', sorted(WHERE))
def test_second_call_replaces_the_log(conn, source, where):
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    run(conn, source, where, first)
    wait_for_log(conn, 'output closed %s' % first)
    _headers, body = run(conn, source, where, second)
    assert body == DATA
    _log_headers, log = wait_for_log(conn, 'output closed %s' % second)
    assert first not in log
    assert log.splitlines() == [
        '%s INFO: start %s' % (MAIN, second),
        '%s INFO: output closed %s' % (MAIN, second)]


@pytest.mark.parametrize('where', sorted(WHERE))
def test_failing_storlet_log_holds_the_traceback(conn, source, where):
    marker = uuid.uuid4().hex
    with pytest.raises(ClientException) as err:
        run(conn, source, where, marker, fail='yes')
    assert err.value.http_status == 503
    assert err.value.http_response_content == b'Storlet execution failed'
    message = 'RuntimeError: logging storlet fails on purpose %s' % marker
    log_headers, log = wait_for_log(conn, message)
    assert log_headers['content-type'].split(';')[0] == 'text/plain'
    lines = log.splitlines()
    assert lines[0] == '%s INFO: start %s' % (MAIN, marker)
    assert any(line.startswith(MAIN) and
               line.endswith('Traceback (most recent call last):')
               for line in lines)
    # the traceback names the storlet's own file and the failing line
    assert any('logging_storlet.py' in line and 'line' in line
               for line in lines)
    assert any(line.startswith(MAIN) and line.endswith(message)
               for line in lines)
    assert 'output closed' not in log


@pytest.mark.parametrize('where', sorted(WHERE))
@pytest.mark.parametrize('value', [None, 'false'], ids=['absent', 'false'])
def test_no_log_without_the_header(conn, source, where, value):
    _headers, body = run(conn, source, where, 'nolog', generate_log=value)
    assert body == DATA
    # the upload would follow the response closely; give it time to appear
    time.sleep(1.5)
    with pytest.raises(ClientException) as err:
        conn.head_object(LOG_CONTAINER, LOG_OBJECT)
    assert err.value.http_status == 404
