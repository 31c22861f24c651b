"""Proxy-side middleware through real WSGI round trips over FakeSwift."""
import pytest
from swift.common.swob import Request

from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from storlets.gateway.stub import StubStorletGateway
from tests.unit.fake_swift import FakeCodeSource, FakeSwift

ACCOUNT = '/v1/AUTH_test'
STORLET_HEADERS = {
    'X-Object-Meta-Storlet-Language': 'Python',
    'X-Object-Meta-Storlet-Interface-Version': '1.0',
    'X-Object-Meta-Storlet-Object-Metadata': 'no',
    'X-Object-Meta-Storlet-Main': 'identity.IdentityStorlet',
}


class Setup:
    def __init__(self, enabled=True):
        self.swift = FakeSwift()
        self.swift.register('HEAD', ACCOUNT, 204, {
            'X-Account-Meta-Storlet-Enabled': 'true' if enabled else 'no'})
        self.swift.register('HEAD', ACCOUNT + '/storlet/identity.py', 200,
                            dict(STORLET_HEADERS, Etag='abc',
                                 **{'X-Timestamp': '1.0'}))
        self.swift.register('HEAD', ACCOUNT + '/storlet', 204)
        self.swift.register('PUT', ACCOUNT + '/storlet/identity.py', 201)
        self.swift.register('PUT', ACCOUNT + '/dependency/dep.sh', 201)
        self.swift.register('GET', ACCOUNT + '/c/o', 200, {
            'X-Object-Meta-Color': 'red', 'Etag': 'stale',
            'Content-Type': 'text/plain', 'X-Timestamp': '2.0'}, b'data!')
        config = StorletConfig(execution_server='proxy')
        self.mw = StorletMiddleware(self.swift, config,
                                    StubStorletGateway(), FakeCodeSource())

    def request(self, path, method='GET', headers=None, body=None):
        req = Request.blank(path, method=method, headers=headers or {})
        if body is not None:
            req.body = body
        resp = req.get_response(self.mw)
        resp.body  # consume
        return resp


@pytest.fixture
def env():
    setup = Setup()
    yield setup
    assert setup.swift.unclosed == []


def test_plain_requests_pass_through(env):
    resp = env.request(ACCOUNT + '/c/o')
    assert resp.status_int == 200
    assert resp.body == b'data!'
    assert [c[0] for c in env.swift.calls] == ['GET']


def test_disabled_account_refuses_invocation():
    setup = Setup(enabled=False)
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 400
    assert resp.body == b'Account disabled for storlets'
    assert ('GET', ACCOUNT + '/c/o') not in [c[:2] for c in setup.swift.calls]


def test_missing_storlet_is_401(env):
    resp = env.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'nothere.py'})
    assert resp.status_int == 401
    assert resp.body.startswith(b'Failed to verify access to the storlet.')


def test_invocation_forwards_storlet_metadata_and_strips_forged(env):
    resp = env.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py',
        'X-Storlet-Dependency': 'evil.py',
        'X-Storlet-Language-Version': '2',
        'X-Storlet-Parameter-1': 'a:b'})
    assert resp.status_int == 200
    (sent,) = env.swift.call_headers('GET', ACCOUNT + '/c/o')
    assert sent['X-Storlet-Main'] == 'identity.IdentityStorlet'
    assert sent['X-Storlet-Language'] == 'Python'
    assert sent['X-Storlet-Etag'] == 'abc'
    assert 'X-Storlet-Dependency' not in sent
    assert 'X-Storlet-Language-Version' not in sent
    assert sent['X-Storlet-Parameter-1'] == 'a:b'
    head_sources = [c[3] for c in env.swift.calls if c[0] == 'HEAD']
    assert head_sources and all(s == 'SH' for s in head_sources)


def test_proxy_runs_storlet_when_object_server_did_not(env):
    # FakeSwift plays an object server that declined: the proxy runs the
    # (identity) stub over the body and rewrites the headers.
    resp = env.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 200
    assert resp.body == b'data!'
    assert 'Etag' not in resp.headers
    assert resp.headers['X-Object-Meta-Color'] == 'red'
    assert resp.headers['X-Storlet-Executed'] == 'proxy'


def test_run_on_proxy_strips_x_run_storlet(env):
    resp = env.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py', 'X-Storlet-Run-On-Proxy': ''})
    assert resp.status_int == 200
    (sent,) = env.swift.call_headers('GET', ACCOUNT + '/c/o')
    assert 'X-Run-Storlet' not in sent


def test_object_server_failure_marker_becomes_503():
    setup = Setup()
    setup.swift.register('GET', ACCOUNT + '/c/o', 200, {
        'X-Storlet-Failure': 'timeout'}, b'')
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 503
    assert resp.body == b'Storlet execution timed out'
    assert setup.swift.unclosed == []


@pytest.mark.parametrize('headers,status,body', [
    ({'X-Run-Storlet': ''}, 400, b'X-Run-Storlet header must name a storlet'),
    ({'X-Run-Storlet': 'identity.py', 'Range': 'bytes=1-2'}, 400,
     b'Storlet execution with range header is not supported'),
    ({'X-Run-Storlet': 'identity.py', 'X-Storlet-Run-On-Proxy': 'yes'}, 400,
     b'X-Storlet-Run-On-Proxy header should be empty'),
    ({'X-Run-Storlet': 'identity.py', 'X-Storlet-Parameter-1': 'nocolon'},
     400, b'X-Storlet-Parameter-1 header must have the form <key>:<value>'),
    ({'X-Run-Storlet': 'identity.py', 'X-Storlet-Parameter-1':
      'storlet_execution_path:/etc'}, 400, None),
    ({'X-Run-Storlet': '..'}, 400, b'Storlet name is incorrect'),
    ({'X-Run-Storlet': 'identity.py', 'Referer': 'http://storlets.x_y/'},
     403, b'Referrer containing storlets is not allowed'),
])
def test_bad_invocations(env, headers, status, body):
    resp = env.request(ACCOUNT + '/c/o', headers=headers)
    assert resp.status_int == status
    if body is not None:
        assert resp.body == body
    assert ('GET', ACCOUNT + '/c/o') not in [c[:2] for c in env.swift.calls]


def test_legitimate_referer_with_the_word_is_allowed(env):
    resp = env.request(ACCOUNT + '/c/o', headers={
        'Referer': 'https://example.com/storlets-docs'})
    assert resp.status_int == 200


def test_unsupported_method_is_405(env):
    resp = env.request(ACCOUNT + '/c/o', method='DELETE', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 405


def test_query_parameters_reach_the_object_server_unchanged(env):
    resp = env.request(ACCOUNT + '/c/o?a=1&b=2', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 200


class FakeCache(dict):
    def get(self, key):
        return dict.get(self, key)

    def set(self, key, value, time=0):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_storlet_facts_are_cached_until_the_storlet_changes():
    setup = Setup()
    cache = FakeCache()

    def get():
        req = Request.blank(ACCOUNT + '/c/o', environ={'swift.cache': cache},
                            headers={'X-Run-Storlet': 'identity.py'})
        resp = req.get_response(setup.mw)
        resp.body
        return resp
    storlet_heads = lambda: len(setup.swift.call_headers(  # noqa: E731
        'HEAD', ACCOUNT + '/storlet/identity.py'))
    assert get().status_int == 200
    assert get().status_int == 200
    assert storlet_heads() == 1
    req = Request.blank(ACCOUNT + '/storlet/identity.py', method='PUT',
                        environ={'swift.cache': cache},
                        headers=STORLET_HEADERS, body=b'new code')
    resp = req.get_response(setup.mw)
    resp.body
    assert resp.status_int == 201
    assert get().status_int == 200
    assert storlet_heads() == 2
    assert setup.swift.unclosed == []
