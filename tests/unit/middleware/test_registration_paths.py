"""Every way an object can land in the storlet or dependency container,
through Swift's own bulk, copy, slo, dlo, versioned_writes and symlink
filters placed as in the proxy pipeline (bulk before us, the rest after):
only a plain upload or a metadata update with a valid registration reaches
the backend; every other write gets a 400 and stores nothing."""
import io
import json
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from swift.common.middleware import (
    bulk, copy, dlo, slo, symlink, versioned_writes)
from swift.common.swob import Request

from storlets.gateway.base import Gateway
from storlets.middleware import StorletMiddleware
from storlets.middleware.config import StorletConfig
from tests.unit.fake_swift import FakeCodeSource, FakeSwift
from tests.unit.middleware.test_proxy import ACCOUNT, STORLET_HEADERS

STORLET = ACCOUNT + '/storlet/identity.py'
DEPENDENCY = ACCOUNT + '/dependency/dep.sh'
CODE_PATHS = (STORLET, DEPENDENCY)
#: What a storlet could emit to mint a storlet on copy.
MINTED = {'X-Object-Meta-Storlet-Language': 'Python',
          'X-Object-Meta-Storlet-Interface-Version': '9.9',
          'X-Object-Meta-Storlet-Object-Metadata': 'no',
          'X-Object-Meta-Storlet-Main': 'identity.IdentityStorlet',
          'X-Object-Meta-Storlet-Dependency': 'nothere.sh'}


class Pipeline:
    """bulk, storlet_handler, copy, slo, dlo, versioned_writes, symlink,
    over a FakeSwift holding an account, code containers and a source
    object carrying storlet metadata."""

    def __init__(self):
        self.swift = FakeSwift()
        swift = self.swift
        swift.register('HEAD', ACCOUNT, 204,
                       {'X-Account-Meta-Storlet-Enabled': 'true'})
        for container in ('storlet', 'dependency', 'c'):
            swift.register('HEAD', '%s/%s' % (ACCOUNT, container), 204)
            swift.register('PUT', '%s/%s' % (ACCOUNT, container), 202)
        for path in CODE_PATHS + (ACCOUNT + '/c/o',):
            swift.register('PUT', path, 201)
            swift.register('POST', path, 202)
            swift.register('DELETE', path, 204)
        swift.register('GET', ACCOUNT + '/c/o', 200, dict(
            MINTED, Etag='abc', **{'Content-Type': 'text/plain',
                                   'X-Timestamp': '1.0'}), b'code')
        swift.register('HEAD', STORLET, 200, dict(
            STORLET_HEADERS, Etag='abc', **{'X-Timestamp': '1.0'}))
        app = symlink.filter_factory({})(swift)
        app = versioned_writes.filter_factory(
            {'allow_versioned_writes': 'true'})(app)
        app = dlo.filter_factory({})(app)
        app = slo.filter_factory({})(app)
        app = copy.filter_factory({})(app)
        self.storlets = StorletMiddleware(
            app, StorletConfig(execution_server='proxy'), Gateway(),
            FakeCodeSource())
        self.app = bulk.filter_factory({})(self.storlets)

    def request(self, path, method='PUT', headers=None, body=b'code',
                query=''):
        req = Request.blank(path, method=method, headers=headers or {})
        if query:
            req.query_string = query
        if method in ('PUT', 'POST'):
            req.body = body
        resp = req.get_response(self.app)
        resp.body  # consume
        return resp

    def writes(self, paths=CODE_PATHS):
        """Backend writes (PUT/POST/COPY) that reached a code object."""
        return [(m, p) for m, p, _h, _s in self.swift.calls
                if m in ('PUT', 'POST', 'COPY') and p in paths]


@pytest.fixture
def pipe():
    pipe = Pipeline()
    yield pipe
    assert pipe.swift.unclosed == []


def refused(resp, *phrases):
    assert resp.status_int == 400, (resp.status, resp.body)
    for phrase in phrases:
        assert phrase.encode() in resp.body
    return True


def test_valid_upload_and_metadata_update_reach_the_backend(pipe):
    assert pipe.request(STORLET, headers=STORLET_HEADERS).status_int == 201
    assert pipe.request(STORLET, 'POST',
                        headers=STORLET_HEADERS).status_int == 202
    assert pipe.writes() == [('PUT', STORLET), ('POST', STORLET)]


@pytest.mark.parametrize('target', CODE_PATHS)
@pytest.mark.parametrize('extra', [
    {}, {'X-Copy-From-Account': 'AUTH_test'}, {'X-Run-Storlet': 'x.py'}])
def test_put_with_x_copy_from_into_code_container(pipe, target, extra):
    headers = dict(STORLET_HEADERS, **{'X-Copy-From': 'c/o'}, **extra)
    headers['X-Object-Meta-Storlet-Dependency-Version'] = '1'
    assert refused(pipe.request(target, headers=headers, body=b''),
                   'X-Copy-From', 'upload the code instead')
    assert pipe.writes() == []


@pytest.mark.parametrize('destination', [
    'storlet/identity.py', '/storlet/identity.py', 'dependency/dep.sh',
    'storlet%2Fidentity.py', '%73torlet/identity.py'])
@pytest.mark.parametrize('extra', [
    {}, {'Destination-Account': 'AUTH_test'},
    {'X-Run-Storlet': 'identity.py'},
    {'X-Run-Storlet': 'identity.py', 'Destination-Account': 'AUTH_test'}])
def test_copy_into_code_container(pipe, destination, extra):
    resp = pipe.request(ACCOUNT + '/c/o', 'COPY', headers=dict(
        extra, Destination=destination))
    assert refused(resp, 'Copy: only a plain upload', 'upload the code')
    assert pipe.writes() == []


def test_copy_out_of_the_storlet_container_still_works(pipe):
    pipe.swift.register('GET', STORLET, 200, dict(STORLET_HEADERS), b'c')
    resp = pipe.request(STORLET, 'COPY', headers={'Destination': 'c/o'})
    assert resp.status_int == 201
    assert pipe.writes([ACCOUNT + '/c/o']) == [('PUT', ACCOUNT + '/c/o')]


def test_slo_manifest_into_storlet_container(pipe):
    manifest = json.dumps([{'path': '/c/o', 'etag': None,
                            'size_bytes': None}]).encode()
    resp = pipe.request(STORLET, headers=STORLET_HEADERS, body=manifest,
                        query='multipart-manifest=put')
    assert refused(resp, 'Static large object manifest')
    assert pipe.writes() == []


@pytest.mark.parametrize('method', ['PUT', 'POST'])
def test_dlo_manifest_into_storlet_container(pipe, method):
    resp = pipe.request(STORLET, method, headers=dict(
        STORLET_HEADERS, **{'X-Object-Manifest': 'c/o'}), body=b'')
    assert refused(resp, 'X-Object-Manifest')
    assert pipe.writes() == []


def test_symlink_into_storlet_container(pipe):
    resp = pipe.request(STORLET, headers=dict(
        STORLET_HEADERS, **{'X-Symlink-Target': 'c/o'}), body=b'')
    assert refused(resp, 'X-Symlink-Target')
    assert pipe.writes() == []


@pytest.mark.parametrize('headers', [
    {'X-Versions-Location': 'old'}, {'X-History-Location': 'old'},
    {'X-Versions-Enabled': 'true'}])
@pytest.mark.parametrize('method', ['PUT', 'POST'])
def test_versioning_on_code_container_is_refused(pipe, method, headers):
    resp = pipe.request(ACCOUNT + '/storlet', method, headers=headers)
    assert refused(resp, 'cannot be set on the storlet container')
    assert not [c for c in pipe.swift.calls
                if c[:2] == (method, ACCOUNT + '/storlet')]


def test_delete_in_stack_versioned_storlet_container_is_refused(pipe):
    """A stack-mode restore copies an object of another container back
    into the storlet container, behind this filter."""
    pipe.swift.register('HEAD', ACCOUNT + '/storlet', 204, {
        'X-Container-Sysmeta-Versions-Location': 'old',
        'X-Container-Sysmeta-Versions-Mode': 'stack'})
    resp = pipe.request(STORLET, 'DELETE')
    assert refused(resp, 'X-Versions-Location')
    assert not [c for c in pipe.swift.calls if c[0] in ('DELETE', 'GET')
                and c[1].startswith(ACCOUNT + '/')]


def test_delete_in_unversioned_storlet_container_passes(pipe):
    assert pipe.request(STORLET, 'DELETE').status_int == 204


def test_post_breaking_a_registration_is_refused(pipe):
    resp = pipe.request(STORLET, 'POST', headers={
        'X-Object-Meta-Storlet-Language': 'Python',
        'X-Object-Meta-Color': 'red'})
    assert refused(resp, 'Mandatory parameter is missing')
    assert pipe.writes() == []


def test_interface_version_2_upload_is_refused(pipe):
    headers = dict(STORLET_HEADERS)
    headers['X-Object-Meta-Storlet-Interface-Version'] = '2.0'
    assert refused(pipe.request(STORLET, headers=headers),
                   'Unsupported Interface-Version: 2.0')
    assert pipe.writes() == []


def test_missing_dependency_is_refused_existing_one_accepted(pipe):
    headers = dict(STORLET_HEADERS)
    headers['X-Object-Meta-Storlet-Dependency'] = 'nothere.sh'
    assert refused(pipe.request(STORLET, headers=headers),
                   'Dependency nothere.sh cannot be read', '404')
    assert pipe.writes() == []
    pipe.swift.register('HEAD', DEPENDENCY, 200)
    headers['X-Object-Meta-Storlet-Dependency'] = 'dep.sh'
    assert pipe.request(STORLET, headers=headers).status_int == 201
    head = [c for c in pipe.swift.calls if c[:2] == ('HEAD', DEPENDENCY)]
    assert head and head[0][3] == 'SH'


def _tar(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, meta in members:
            info = tarfile.TarInfo(name)
            info.size = 4
            info.pax_headers = {'SCHILY.xattr.user.meta.' + k: v
                                for k, v in meta.items()}
            t.addfile(info, io.BytesIO(b'code'))
    return out.getvalue()


def _meta(headers):
    return {k[len('X-Object-Meta-'):].lower(): v for k, v in headers.items()}


# Swift's bulk leaves its own subrequests' bodies unclosed: no leak check.

def test_bulk_extract_into_code_containers_validates_each_file():
    pipe = Pipeline()
    bad = dict(STORLET_HEADERS)
    bad['X-Object-Meta-Storlet-Interface-Version'] = '9.9'
    body = _tar([('storlet/identity.py', _meta(bad)),
                 ('dependency/dep.sh', {})])
    resp = pipe.request(ACCOUNT + '/', headers={'Accept': 'application/json'},
                        body=body, query='extract-archive=tar')
    assert resp.status_int == 200
    report = json.loads(resp.body)
    assert report['Response Status'] == '400 Bad Request'
    assert sorted(report['Errors']) == [
        ['dependency/dep.sh', '400 Bad Request'],
        ['storlet/identity.py', '400 Bad Request']]
    assert pipe.writes() == []


def test_bulk_extract_of_a_valid_storlet_is_stored_with_its_metadata():
    pipe = Pipeline()
    body = _tar([('storlet/identity.py', _meta(STORLET_HEADERS))])
    resp = pipe.request(ACCOUNT + '/', headers={'Accept': 'application/json'},
                        body=body, query='extract-archive=tar')
    assert json.loads(resp.body)['Number Files Created'] == 1
    (headers,) = pipe.swift.call_headers('PUT', STORLET)
    assert headers['X-Object-Meta-Storlet-Main'] == 'identity.IdentityStorlet'


@pytest.mark.parametrize('facts,reason', [
    ({'X-Symlink-Target': 'c/o'}, 'it is a x-symlink-target'),
    ({'X-Object-Manifest': 'c/o'}, 'it is a x-object-manifest'),
    ({'X-Static-Large-Object': 'True'}, 'it is a x-static-large-object'),
    ({'X-Object-Meta-Storlet-Interface-Version': '9.9'},
     'Unsupported Interface-Version: 9.9'),
])
def test_invocation_refuses_a_storlet_that_is_not_validly_registered(
        pipe, facts, reason):
    """Whatever reached the container by a path we do not see never
    runs: the invocation HEADs the object itself (?symlink=get)."""
    pipe.swift.register('HEAD', STORLET, 200, dict(
        STORLET_HEADERS, Etag='abc', **{'X-Timestamp': '1.0'}, **facts))
    resp = pipe.request(ACCOUNT + '/c/o', 'GET',
                        headers={'X-Run-Storlet': 'identity.py'})
    assert refused(resp, 'Storlet identity.py is not validly registered',
                   reason)
    assert ('GET', ACCOUNT + '/c/o') not in [c[:2] for c in pipe.swift.calls]


# -- generated registration metadata ------------------------------------------

VALUE = st.one_of(
    st.sampled_from(['1.0', '2.0', '9.9', '1', 'Python', 'python', 'JAVA',
                     'java', 'ruby', 'my-storlet.Main', 'my-storlet.',
                     'my-storlet.a.b', 'other.Main', '']),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e),
            max_size=12))


def expected_valid(version, language, main):
    if version != '1.0':
        return False
    if language.lower() == 'java':
        return True
    if language.lower() != 'python':
        return False
    stem, dot, rest = main.partition('.')
    return stem == 'my-storlet' and dot and rest and '.' not in rest


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(version=VALUE, language=VALUE, main=VALUE,
       method=st.sampled_from(['PUT', 'POST']))
def test_generated_registrations(version, language, main, method):
    pipe = Pipeline()
    path = ACCOUNT + '/storlet/my-storlet.py'
    pipe.swift.register(method, path, 201)
    resp = pipe.request(path, method, headers={
        'X-Object-Meta-Storlet-Language': language,
        'X-Object-Meta-Storlet-Interface-Version': version,
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': main})
    stored = pipe.writes([path])
    if expected_valid(version, language, main):
        assert resp.status_int == 201
        assert stored == [(method, path)]
    else:
        assert resp.status_int == 400
        assert stored == []
    assert pipe.swift.unclosed == []
