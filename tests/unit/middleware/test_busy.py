"""A node without room for one more sandbox: 503 with Retry-After, on the
proxy and through an object server's failure marker."""
from storlets.errors import SandboxBusy
from storlets.gateway.stub import StubStorletGateway
from tests.unit.middleware.test_proxy import ACCOUNT, Setup

BODY = b'This node has too many active storlet sandboxes; retry later'


class BusyGateway(StubStorletGateway):
    def invoke(self, invocation, code_source):
        raise SandboxBusy('too many active sandboxes')


def busy_setup():
    setup = Setup()
    setup.mw.handler.gateway = BusyGateway()
    return setup


def test_busy_on_the_proxy_is_503_with_retry_after():
    setup = busy_setup()
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py', 'X-Storlet-Run-On-Proxy': ''})
    assert resp.status_int == 503
    assert resp.headers['Retry-After'] == str(SandboxBusy.retry_after)
    assert resp.body == BODY
    assert setup.swift.unclosed == []


def test_busy_put_is_503_not_500():
    setup = busy_setup()
    resp = setup.request(ACCOUNT + '/c/o', method='PUT', body=b'data',
                         headers={'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 503
    assert resp.headers['Retry-After'] == str(SandboxBusy.retry_after)


def test_object_server_busy_marker_becomes_503_with_retry_after():
    setup = Setup()
    setup.swift.register('GET', ACCOUNT + '/c/o', 200, {
        'X-Storlet-Failure': 'busy'}, b'')
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 503
    assert resp.headers['Retry-After'] == str(SandboxBusy.retry_after)
    assert resp.body == BODY
