"""The proxy filter checks a storlet's output metadata on every path before
any of it reaches Swift, and refuses undecodable client header values."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from swift.common.swob import Request, wsgi_to_str

from storlets.gateway.invocation import StorletResult
from storlets.gateway.stub import StubStorletGateway
from tests.unit.middleware.test_proxy import ACCOUNT, Setup
from tests.unit.middleware.test_response import (
    _TOKEN_CHARS, KEYS, VALUES)

FAILED = b'Storlet execution failed'
UNICODE = '日本語'
WSGI_UNICODE = UNICODE.encode('utf-8').decode('latin1')


class MetadataGateway(StubStorletGateway):
    """The identity stub, with output metadata ``metadata`` when set."""

    def __init__(self):
        super().__init__()
        self.metadata = None
        self.runs = 0

    def invoke(self, invocation, code_source):
        self.runs += 1
        result = super().invoke(invocation, code_source)
        if self.metadata is not None:
            result = StorletResult(dict(self.metadata), result.body)
        return result


class MetaSetup(Setup):
    def __init__(self):
        super().__init__()
        self.gateway = MetadataGateway()
        self.mw.gateway = self.mw.handler.gateway = self.gateway
        for path in ('/c/o', '/c/dst', '/d/dst'):
            self.swift.register('PUT', ACCOUNT + path, 201)

    def puts(self):
        return [c for c in self.swift.calls if c[0] == 'PUT']


@pytest.fixture
def env():
    setup = MetaSetup()
    yield setup
    assert setup.swift.unclosed == []


# Each way a storlet's output reaches a client or Swift, through the proxy.
FLOWS = {
    'get': ('GET', ACCOUNT + '/c/o', {}, 503),
    'get-on-proxy': ('GET', ACCOUNT + '/c/o',
                     {'X-Storlet-Run-On-Proxy': ''}, 503),
    'put': ('PUT', ACCOUNT + '/c/dst', {}, 500),
    'x-copy-from': ('PUT', ACCOUNT + '/c/dst', {'X-Copy-From': 'c/o'}, 500),
    'copy': ('COPY', ACCOUNT + '/c/o', {'Destination': 'd/dst'}, 500),
}
BAD = [
    {'Foo\r\nX-Delete-At': '1'}, {'a:b': 'v'}, {'k': 'a\r\nb'},
    {'Content-Type': 'text/plain\r\nX-Delete-At: 1'}, {'k': 'nul\x00'},
    {'k\x00': 'v'}, {'ключ': 'v'}, {'Storlet-Main': 'evil.Main'},
    {'k': 'v' * 257}, {'k%d' % i: 'v' for i in range(91)},
]


def _request(env, flow, extra=None, body=b'input'):
    method, path, headers, _status = FLOWS[flow]
    headers = dict(headers, **{'X-Run-Storlet': 'identity.py'})
    headers.update(extra or {})
    return env.request(path, method, headers,
                       body if method == 'PUT' else None)


@pytest.mark.parametrize('flow', sorted(FLOWS))
@pytest.mark.parametrize('metadata', BAD, ids=range(len(BAD)))
def test_bad_output_metadata_is_the_storlets_failure(env, flow, metadata):
    env.gateway.metadata = metadata
    resp = _request(env, flow)
    assert resp.status_int == FLOWS[flow][3]
    assert resp.body == FAILED
    assert env.puts() == []
    assert env.gateway.runs == 1


@pytest.mark.parametrize('flow', sorted(FLOWS))
def test_unicode_output_metadata_reaches_swift_as_utf8(env, flow):
    env.gateway.metadata = {'Color': UNICODE, 'Content-Type': 'text/x-ü'}
    resp = _request(env, flow)
    assert resp.status_int in (200, 201)
    if FLOWS[flow][0] == 'GET':
        sent = resp.headers
        assert resp.body == b'data!'
    else:
        ((_m, _p, sent, _s),) = env.puts()
    assert sent['X-Object-Meta-Color'] == WSGI_UNICODE
    assert wsgi_to_str(sent['Content-Type']) == 'text/x-ü'


def test_unicode_input_metadata_reaches_the_storlet_as_text():
    setup = MetaSetup()
    setup.swift.register('GET', ACCOUNT + '/c/o', 200, {
        'X-Object-Meta-Color': WSGI_UNICODE}, b'data!')
    seen = []
    invoke = setup.gateway.invoke

    def spy(invocation, code_source):
        seen.append(invocation.inputs[0].metadata)
        return invoke(invocation, code_source)
    setup.gateway.invoke = spy
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py'})
    assert seen == [{'Color': UNICODE}]
    # and the identity's output carries the same bytes back
    assert resp.headers['X-Object-Meta-Color'] == WSGI_UNICODE


def test_put_layers_output_over_client_metadata_whatever_its_case(env):
    env.gateway.metadata = {'color': 'blue'}
    resp = _request(env, 'put', {'X-Object-Meta-Color': 'red'})
    assert resp.status_int == 201
    ((_m, _p, sent, _s),) = env.puts()
    assert sent['X-Object-Meta-Color'] == 'blue'


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.dictionaries(KEYS, VALUES, max_size=20))
def test_any_put_output_is_stored_valid_or_fails(metadata):
    env = MetaSetup()
    env.gateway.metadata = metadata
    resp = _request(env, 'put')
    assert resp.status_int in (201, 500)
    if resp.status_int == 500:
        assert resp.body == FAILED and env.puts() == []
        return
    ((_m, _p, sent, _s),) = env.puts()
    for name, value in sent.items():
        assert set(name) <= _TOKEN_CHARS
        value.encode('latin1')
        assert not set(value) & {'\r', '\n', '\x00'}
    assert env.swift.unclosed == []


# -- client header values that are not text ----------------------------------

RAW_FF = b'\xff'.decode('latin1')     # a raw 0xff byte, as WSGI has it


@pytest.mark.parametrize('method,path,headers,name', [
    ('GET', '/c/o', {'X-Run-Storlet': 'a' + RAW_FF}, 'X-Run-Storlet'),
    ('GET', '/c/o', {'X-Storlet-Parameter-1': 'k:' + RAW_FF},
     'X-Storlet-Parameter-1'),
    ('GET', '/c/o', {'X-Storlet-Parameter-1': 'k:%ff'},
     'X-Storlet-Parameter-1'),
    ('GET', '/c/o', {'X-Storlet-Range': 'bytes=1-2' + RAW_FF},
     'X-Storlet-Range'),
    ('GET', '/c/o', {'X-Storlet-Extra-Resources': 'c/o' + RAW_FF},
     'X-Storlet-Extra-Resources'),
    ('PUT', '/c/dst', {'X-Copy-From': 'c/o' + RAW_FF}, 'X-Copy-From'),
    ('PUT', '/c/dst', {'X-Copy-From': 'c/o%ff'}, 'X-Copy-From'),
    ('COPY', '/c/o', {'Destination': 'd/' + RAW_FF}, 'Destination'),
])
def test_undecodable_header_is_400_naming_it(env, method, path, headers,
                                             name):
    headers = dict({'X-Run-Storlet': 'identity.py'}, **headers)
    resp = env.request(ACCOUNT + path, method, headers,
                       b'x' if method == 'PUT' else None)
    assert resp.status_int == 400
    assert resp.body.startswith(name.encode() + b' header is not valid UTF-8')
    assert env.gateway.runs == 0
    assert env.puts() == []


def test_undecodable_query_parameter_is_400(env):
    resp = env.request(ACCOUNT + '/c/o?k=%ff', headers={
        'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 400
    assert resp.body == b'Query parameter k is not valid UTF-8'


@pytest.mark.parametrize('name', ['X-Storlet-Container-Read',
                                  'X-Storlet-Name'])
def test_undecodable_acl_header_is_400(env, name):
    headers = {'X-Storlet-Container-Read': 'tester',
               'X-Storlet-Name': 'identity.py'}
    headers[name] += RAW_FF
    resp = env.request(ACCOUNT + '/c', 'POST', headers)
    assert resp.status_int == 400
    assert resp.body == name.encode() + b' header is not valid UTF-8'
    assert [c for c in env.swift.calls if c[0] == 'POST'] == []


def test_utf8_parameters_reach_the_storlet_as_text(env):
    seen = []
    invoke = env.gateway.invoke

    def spy(invocation, code_source):
        seen.append(invocation.params)
        return invoke(invocation, code_source)
    env.gateway.invoke = spy
    query = 'q=%E6%97%A5'
    resp = Request.blank(ACCOUNT + '/c/o?' + query, headers={
        'X-Run-Storlet': 'identity.py', 'X-Storlet-Run-On-Proxy': '',
        'X-Storlet-Parameter-1': 'h:' + WSGI_UNICODE}).get_response(env.mw)
    resp.body
    assert resp.status_int == 200
    assert seen == [{'q': '日', 'h': UNICODE}]
