"""The object-server side (ObjectHandler) without a running Swift: a fake
object server answers with a real file behind its body (as Swift's
DiskFileReader does) and the stub gateway echoes its input window."""
import os

import pytest
from swift.common.swob import Request, Response

from storlets.errors import StorletTimeout
from storlets.gateway.stub import StubStorletGateway
from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from storlets.middleware.framing import FRAMED_HEADER, Unframe
from storlets.middleware.request import EXECUTED_HEADER, FAILURE_HEADER

DATA = b'0123456789abcdefghij'
PATH = '/sda1/0/AUTH_a/c/o'
STORLET_META = {'X-Storlet-Language': 'python', 'X-Storlet-Main': 's.S',
                'X-Storlet-Etag': 'e', 'X-Storlet-X-Timestamp': '1.0'}


class DiskFileBody:
    """Swift's DiskFileReader, as far as the handler looks at it."""

    def __init__(self, path):
        self._fp = open(path, 'rb')
        self.closed = False

    def __iter__(self):
        return iter([self._fp.read()])

    def close(self):
        self.closed = True
        self._fp.close()


class FakeObjectServer:
    def __init__(self, path, headers=None):
        self.path = path
        self.headers = dict({'Content-Length': str(len(DATA)),
                             'X-Object-Meta-Color': 'red',
                             'Etag': 'stored-etag'}, **(headers or {}))
        self.bodies = []
        self.calls = 0

    def __call__(self, env, start_response):
        self.calls += 1
        body = DiskFileBody(self.path)
        self.bodies.append(body)
        return Response(headers=self.headers, app_iter=body)(
            env, start_response)


class FailingGateway(StubStorletGateway):
    def invoke(self, invocation, code_source):
        for inp in invocation.inputs:
            if inp.fd is not None:
                os.close(inp.fd)
                inp.fd = None
        raise StorletTimeout('too slow')


class NoLogs:
    def log_uploader(self, *args):
        return None


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / 'data'
    path.write_bytes(DATA)
    return str(path)


def object_filter(app, gateway=None, **conf):
    config = StorletConfig.from_conf(dict(execution_server='object', **conf))
    return StorletMiddleware(app, config, gateway or StubStorletGateway(),
                             NoLogs())


def get(mw, headers, method='GET'):
    req = Request.blank(PATH, environ={'REQUEST_METHOD': method},
                        headers=dict(STORLET_META, **headers))
    return req.get_response(mw)


def test_runs_next_to_the_data_framed(data_file):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server), {'X-Run-Storlet': 's.py'})
    assert resp.status_int == 200
    assert resp.headers[EXECUTED_HEADER] == 'object'
    assert resp.headers[FRAMED_HEADER] == '1'
    assert 'Etag' not in resp.headers          # described the stored bytes
    assert resp.headers['X-Object-Meta-Color'] == 'red'
    assert b''.join(Unframe(iter([resp.body]))) == DATA
    assert all(body.closed for body in server.bodies)


def test_a_storlet_range_is_the_input_window(data_file):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server), {'X-Run-Storlet': 's.py',
                                       'X-Storlet-Range': 'bytes=2-5'})
    assert b''.join(Unframe(iter([resp.body]))) == DATA[2:6]
    assert resp.headers['Storlet-Input-Range'] == 'bytes 2-5/%d' % len(DATA)
    past = get(object_filter(server), {'X-Run-Storlet': 's.py',
                                       'X-Storlet-Range': 'bytes=100-'})
    assert past.status_int == 416


@pytest.mark.parametrize('stored', [
    {'X-Static-Large-Object': 'True'},
    {'X-Object-Sysmeta-Symlink-Target': 'c/t'},
    {'X-Object-Sysmeta-Crypto-Body-Meta': 'x'},
])
def test_declines_what_the_proxy_must_run(data_file, stored):
    server = FakeObjectServer(data_file, stored)
    resp = get(object_filter(server), {'X-Run-Storlet': 's.py'})
    assert EXECUTED_HEADER not in resp.headers
    assert resp.body == DATA                    # the raw object, for the proxy


@pytest.mark.parametrize('headers, conf', [
    ({'X-Storlet-Run-On-Proxy': ''}, {}),
    ({}, {'storlet_execute_on_proxy_only': 'true'}),
])
def test_declines_before_reading_when_the_request_says_proxy(
        data_file, headers, conf):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server, **conf),
               dict(headers, **{'X-Run-Storlet': 's.py'}))
    assert EXECUTED_HEADER not in resp.headers and resp.body == DATA


def test_a_resumed_get_is_not_run_over_a_tail(data_file):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server), {'X-Run-Storlet': 's.py',
                                       'Range': 'bytes=10-'})
    assert resp.status_int == 416 and server.calls == 0


def test_only_get_runs_here(data_file):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server), {'X-Run-Storlet': 's.py'}, 'PUT')
    assert resp.status_int == 405 and server.calls == 0


def test_a_failure_is_a_marked_empty_200(data_file):
    server = FakeObjectServer(data_file)
    resp = get(object_filter(server, gateway=FailingGateway()),
               {'X-Run-Storlet': 's.py'})
    assert resp.status_int == 200
    assert resp.headers[FAILURE_HEADER] == 'timeout'
    assert resp.body == b''
    assert all(body.closed for body in server.bodies)
