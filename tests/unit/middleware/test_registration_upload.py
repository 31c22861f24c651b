"""Uploads to the storlet/dependency containers are validated by the
docker gateway's rules (the stub validates nothing, as upstream)."""
import pytest
from swift.common.swob import Request

from storlets.gateway.base import Gateway
from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from tests.unit.fake_swift import FakeSwift
from tests.unit.middleware.test_proxy import ACCOUNT, STORLET_HEADERS


@pytest.fixture
def setup():
    swift = FakeSwift()
    swift.register('HEAD', ACCOUNT, 204,
                   {'X-Account-Meta-Storlet-Enabled': 'yes'})
    swift.register('PUT', ACCOUNT + '/storlet/identity.py', 201)
    swift.register('POST', ACCOUNT + '/storlet/identity.py', 202)
    swift.register('PUT', ACCOUNT + '/dependency/dep.sh', 201)
    mw = StorletMiddleware(swift, StorletConfig(execution_server='proxy'),
                           Gateway())
    return swift, mw


def upload(mw, path, headers, method='PUT'):
    req = Request.blank(path, method=method, headers=headers, body=b'code')
    return req.get_response(mw)


def test_valid_storlet_upload_is_stored(setup):
    swift, mw = setup
    resp = upload(mw, ACCOUNT + '/storlet/identity.py', STORLET_HEADERS)
    assert resp.status_int == 201
    assert swift.call_headers('PUT', ACCOUNT + '/storlet/identity.py')


@pytest.mark.parametrize('method', ['PUT', 'POST'])
def test_invalid_storlet_upload_stores_nothing(setup, method):
    swift, mw = setup
    headers = dict(STORLET_HEADERS)
    del headers['X-Object-Meta-Storlet-Main']
    resp = upload(mw, ACCOUNT + '/storlet/identity.py', headers, method)
    assert resp.status_int == 400
    assert resp.body == b'Mandatory parameter is missing: Main'
    assert not swift.call_headers(method, ACCOUNT + '/storlet/identity.py')


def test_dependency_upload_rules(setup):
    swift, mw = setup
    resp = upload(mw, ACCOUNT + '/dependency/dep.sh', {
        'X-Object-Meta-Storlet-Dependency-Version': '1',
        'X-Object-Meta-Storlet-Dependency-Permissions': '0400'})
    assert resp.status_int == 400
    assert resp.body == b'The owner should have rw permission'
    resp = upload(mw, ACCOUNT + '/dependency/dep.sh', {
        'X-Object-Meta-Storlet-Dependency-Version': '1',
        'X-Object-Meta-Storlet-Dependency-Permissions': '0755'})
    assert resp.status_int == 201


def test_upload_with_x_run_storlet_is_registration_not_execution(setup):
    swift, mw = setup
    resp = upload(mw, ACCOUNT + '/storlet/identity.py',
                  dict(STORLET_HEADERS, **{'X-Run-Storlet': 'identity.py'}))
    assert resp.status_int == 201
