"""Storlet requests through Swift's real s3api and tempauth.

The pipeline is s3api -> tempauth -> storlet filter (proxy) -> FakeSwift,
as on the all-in-one; requests are signed (SigV4) by botocore, as boto3
signs them. What is checked is what s3api makes of the filter: the client
headers reach it, CopyObject's source check is not an invocation, and the
filter's errors reach an S3 client as S3 XML errors with our message.
"""
from xml.etree import ElementTree

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from swift.common.middleware import tempauth
from swift.common.middleware.s3api import s3api
from swift.common.swob import Request

from storlets.errors import SandboxBusy
from tests.unit.middleware.test_busy import BusyGateway
from tests.unit.middleware.test_proxy import ACCOUNT, Setup

HOST = 'localhost'


class S3Setup(Setup):
    def __init__(self):
        super().__init__()
        # s3api bucket names have 3 characters at least: 'cont', not 'c'
        self.swift.responses[('GET', ACCOUNT + '/cont/o')] = \
            self.swift.responses[('GET', ACCOUNT + '/c/o')]
        self.swift.register('HEAD', ACCOUNT + '/cont', 204)
        self.swift.register('PUT', ACCOUNT + '/cont/o', 201, {
            'Etag': 'd41d8cd98f00b204e9800998ecf8427e',
            'Last-Modified': 'Fri, 04 Dec 2026 10:00:00 GMT'})
        self.swift.register('PUT', ACCOUNT + '/cont/copy', 201, {
            'Etag': 'd41d8cd98f00b204e9800998ecf8427e',
            'Last-Modified': 'Fri, 04 Dec 2026 10:00:00 GMT'})
        auth = tempauth.filter_factory({}, user_test_tester='testing .admin')
        self.app = s3api.filter_factory(
            {}, storage_domain=HOST)(
            auth(self.mw))

    def s3(self, method, path, headers=None, body=b''):
        """A SigV4-signed S3 request (path style), as boto3 sends it."""
        signed = AWSRequest(method=method, url='http://%s%s' % (HOST, path),
                            headers=dict(headers or {}, Host=HOST), data=body)
        S3SigV4Auth(Credentials('test:tester', 'testing'), 's3',
                    'us-east-1').add_auth(signed)
        req = Request.blank(path, method=method, body=body,
                            headers=dict(signed.headers.items()))
        resp = req.get_response(self.app)
        resp.body  # consume
        return resp


def s3_error(resp):
    """(Code, Message) of an S3 XML error body."""
    root = ElementTree.fromstring(resp.body)
    return root.findtext('Code'), root.findtext('Message')


@pytest.fixture
def env():
    setup = S3Setup()
    yield setup
    assert setup.swift.unclosed == []


def test_get_object_runs_the_storlet_and_keeps_its_metadata(env):
    resp = env.s3('GET', '/cont/o', {'X-Run-Storlet': 'identity.py',
                                  'X-Storlet-Parameter-1': 'color:blue'})
    assert resp.status_int == 200
    assert resp.body == b'data!'
    assert resp.headers['x-amz-meta-color'] == 'red'
    (sent,) = env.swift.call_headers('GET', ACCOUNT + '/cont/o')
    assert sent['X-Storlet-Parameter-1'] == 'color:blue'


def test_missing_storlet_is_access_denied_not_a_signature_error(env):
    resp = env.s3('GET', '/cont/o', {'X-Run-Storlet': 'missing.py'})
    assert resp.status_int == 403
    code, message = s3_error(resp)
    assert code == 'AccessDenied'
    assert message.startswith('Failed to verify access to the storlet.')


def test_storlet_failure_keeps_its_status_and_message(env):
    env.swift.register('GET', ACCOUNT + '/cont/o', 200, {
        'X-Storlet-Failure': 'failed'}, b'')
    resp = env.s3('GET', '/cont/o', {'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 503
    assert s3_error(resp) == ('ServiceUnavailable',
                              'Storlet execution failed')


def test_busy_node_is_service_unavailable_with_retry_after(env):
    env.mw.handler.gateway = BusyGateway()
    resp = env.s3('PUT', '/cont/o', {'X-Run-Storlet': 'identity.py'}, b'data')
    assert resp.status_int == 503
    assert resp.headers['Retry-After'] == str(SandboxBusy.retry_after)
    assert s3_error(resp)[0] == 'ServiceUnavailable'


def test_head_with_a_storlet_is_method_not_allowed(env):
    resp = env.s3('HEAD', '/cont/o', {'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 405


def test_put_object_runs_the_storlet(env):
    resp = env.s3('PUT', '/cont/o', {'X-Run-Storlet': 'identity.py'}, b'data')
    assert resp.status_int == 200
    (sent,) = env.swift.call_headers('PUT', ACCOUNT + '/cont/o')
    assert 'X-Run-Storlet' not in sent      # the proxy ran it


def test_copy_object_source_check_is_not_an_invocation(env):
    resp = env.s3('PUT', '/cont/copy', {'X-Run-Storlet': 'identity.py',
                                     'X-Amz-Copy-Source': '/cont/o'})
    assert resp.status_int == 200, resp.body
    assert b'<CopyObjectResult' in resp.body
    (head,) = env.swift.call_headers('HEAD', ACCOUNT + '/cont/o')
    assert not [h for h in head if h.lower().startswith(
        ('x-run-storlet', 'x-storlet-'))]
    # the copy itself read the source through the storlet and stored it
    assert env.swift.call_headers('GET', ACCOUNT + '/cont/o')
    assert env.swift.call_headers('PUT', ACCOUNT + '/cont/copy')
    # s3api leaves its own HEAD's (empty) body unclosed; every other is
    assert env.swift.unclosed == env.swift.open_bodies[:1]
    env.swift.open_bodies[0].close()


def test_range_with_a_storlet_is_invalid_request_naming_x_storlet_range(env):
    resp = env.s3('GET', '/cont/o', {'X-Run-Storlet': 'identity.py',
                                  'Range': 'bytes=0-1'})
    assert resp.status_int == 400
    assert s3_error(resp) == (
        'InvalidRequest',
        'Storlet execution with range header is not supported')


def test_bad_parameter_is_invalid_request_with_our_text(env):
    resp = env.s3('GET', '/cont/o', {'X-Run-Storlet': 'identity.py',
                                  'X-Storlet-Parameter-1': 'nocolon'})
    assert resp.status_int == 400
    assert s3_error(resp) == (
        'InvalidRequest',
        'X-Storlet-Parameter-1 header must have the form <key>:<value>')


def test_backend_errors_are_left_to_s3api(env):
    resp = env.s3('GET', '/cont/gone', {'X-Run-Storlet': 'identity.py'})
    assert resp.status_int == 404
    assert s3_error(resp)[0] == 'NoSuchKey'
