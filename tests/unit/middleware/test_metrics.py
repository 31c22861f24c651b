"""Storlet metrics reach a StatsD listener on loopback."""
import socket

from swift.common.swob import Request
from swift.common.utils import get_logger

from storlets.gateway.stub import StubStorletGateway
from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from tests.unit.fake_swift import FakeCodeSource
from tests.unit.middleware.test_proxy import ACCOUNT, Setup


def test_invocation_metrics_are_sent_to_statsd():
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(('127.0.0.1', 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    logger = get_logger({'log_statsd_host': '127.0.0.1',
                         'log_statsd_port': str(port),
                         'log_statsd_metric_prefix': 'test'},
                        log_route='storlet_metrics_test')
    setup = Setup()   # (builds its own logger: keep ours on another route)
    mw = StorletMiddleware(setup.swift,
                           StorletConfig(execution_server='proxy'),
                           StubStorletGateway(), FakeCodeSource(), logger)
    req = Request.blank(ACCOUNT + '/c/o',
                        headers={'X-Run-Storlet': 'identity.py'})
    resp = req.get_response(mw)
    assert resp.body == b'data!'
    received = set()
    try:
        while True:
            received.add(listener.recv(4096).decode())
    except socket.timeout:
        pass
    listener.close()
    names = {line.split(':')[0] for line in received}
    assert 'test.swift.invocations.proxy' in names
    assert 'test.swift.storlet.identity_py.invocations.proxy' \
        in names
    assert 'test.swift.ttfb' in names
    assert 'test.swift.duration' in names
    assert 'test.swift.bytes_out:5|c' in received
