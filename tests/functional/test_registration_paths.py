"""Against the all-in-one: every way into the storlet and dependency
containers other than a valid plain upload or metadata update is refused
with a clear 4xx and stores nothing, so no storlet (and no client) can mint
a registered storlet; extra resources are limited before any read."""
import http.client
import io
import json
import os
import tarfile
import time
import urllib.parse
import uuid

import pytest
from swiftclient import ClientException

from tests.functional.conftest import (
    STORLETS_DIR, deploy, object_absent, storlet_get, storlet_headers)

LOG_DIR = os.environ.get('STORLETS_AIO_LOG_DIR', '/var/log/storlets-aio')
OBJECT_LOGS = [os.path.join(LOG_DIR, 'node%d' % i, 'object-server.log')
               for i in (1, 2, 3)]
INFO_URL = 'http://127.0.0.1:8080/info'
UPLOAD_INSTEAD = b'upload the code instead'


def unique(prefix='reg'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:12])


def raw(conn, method, path, headers=None, body=b'', query=''):
    """One request with the session's token; (status, headers, body)."""
    url, token = conn.get_auth()
    parsed = urllib.parse.urlparse(url)
    full = parsed.path + '/' + urllib.parse.quote(path)
    if query:
        full += '?' + query
    h = {'X-Auth-Token': token}
    h.update(headers or {})
    client = http.client.HTTPConnection(parsed.hostname, parsed.port,
                                        timeout=120)
    try:
        client.request(method, full, body=body, headers=h)
        resp = client.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        client.close()


def assert_never_registered(conn, name, container='storlet'):
    assert object_absent(conn, container, name)
    if container == 'storlet':
        with pytest.raises(ClientException) as err:
            storlet_get(conn, 'storlet', name, name)   # any object would do
        assert err.value.http_status in (401, 404)


@pytest.fixture
def code_names(conn):
    """Unique code-object names; whatever got stored is deleted after."""
    made = []

    def make(container='storlet', suffix='.py'):
        name = unique() + suffix
        made.append((container, name))
        return name
    yield make
    for container, name in made:
        try:
            conn.delete_object(container, name)
        except ClientException:
            pass


@pytest.fixture
def source(conn, container):
    """An object in the test's container dressed as a valid storlet."""
    with open(os.path.join(STORLETS_DIR, 'identity.py'), 'rb') as f:
        code = f.read()
    conn.put_object(container, 'src.py', code, headers={
        'X-Object-Meta-Storlet-Language': 'Python',
        'X-Object-Meta-Storlet-Interface-Version': '1.0',
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': 'src.IdentityStorlet'})
    return container, 'src.py'


@pytest.fixture(scope='module')
def minting_storlet(conn):
    """set_metadata.py under a unique name: outputs the metadata it is
    given, Storlet-* keys included."""
    name = unique('setmeta') + '.py'
    with open(os.path.join(STORLETS_DIR, 'set_metadata.py'), 'rb') as f:
        conn.put_object('storlet', name, f.read(), headers=storlet_headers(
            '%s.SetMetadataStorlet' % name[:-3]))
    yield name
    conn.delete_object('storlet', name)


def minted_meta_params(target):
    meta = {'Storlet-Language': 'Python', 'Storlet-Interface-Version': '9.9',
            'Storlet-Object-Metadata': 'no',
            'Storlet-Main': '%s.IdentityStorlet' % target[:-3],
            'Storlet-Dependency': 'nothere-%s.sh' % uuid.uuid4().hex}
    return {'X-Storlet-Parameter-1': 'meta:' + urllib.parse.quote(
        json.dumps(meta))}


@pytest.mark.parametrize('form', [
    'copy', 'copy-account', 'copy-storlet', 'copy-storlet-account',
    'copy-from', 'copy-from-account', 'copy-from-storlet'])
def test_copy_into_storlet_container_is_refused(
        conn, source, code_names, minting_storlet, form):
    target = code_names()
    account = urllib.parse.unquote(conn.get_auth()[0].rsplit('/', 1)[1])
    headers = {}
    if 'storlet' in form:
        headers.update(minted_meta_params(target))
        headers['X-Run-Storlet'] = minting_storlet
    if form.startswith('copy-from'):
        headers['X-Copy-From'] = '%s/%s' % source
        if form.endswith('account'):
            headers['X-Copy-From-Account'] = account
        status, _h, body = raw(conn, 'PUT', 'storlet/' + target, headers)
    else:
        headers['Destination'] = 'storlet/' + target
        if form.endswith('account'):
            headers['Destination-Account'] = account
        status, _h, body = raw(conn, 'COPY', '%s/%s' % source, headers)
    assert status == 400, body
    assert UPLOAD_INSTEAD in body
    assert_never_registered(conn, target)


def test_copy_into_dependency_container_is_refused(conn, source, code_names):
    target = code_names('dependency', '.sh')
    status, _h, body = raw(conn, 'COPY', '%s/%s' % source, {
        'Destination': 'dependency/' + target})
    assert status == 400 and UPLOAD_INSTEAD in body
    assert object_absent(conn, 'dependency', target)


def test_interface_version_2_upload_is_refused(conn, code_names):
    target = code_names()
    headers = storlet_headers('%s.X' % target[:-3])
    headers['X-Object-Meta-Storlet-Interface-Version'] = '2.0'
    status, _h, body = raw(conn, 'PUT', 'storlet/' + target, headers,
                           b'code')
    assert (status, body) == (
        400, b'Unsupported Interface-Version: 2.0 (supported: 1.0)')
    assert_never_registered(conn, target)


def test_missing_dependency_is_refused(conn, code_names):
    target = code_names()
    dep = unique('nodep') + '.sh'
    headers = storlet_headers('%s.X' % target[:-3],
                              **{'X-Object-Meta-Storlet-Dependency': dep})
    status, _h, body = raw(conn, 'PUT', 'storlet/' + target, headers,
                           b'code')
    assert status == 400
    assert body.startswith(b'Dependency %s cannot be read' % dep.encode())
    assert_never_registered(conn, target)


def test_slo_manifest_into_storlet_container_is_refused(conn, container,
                                                        code_names):
    conn.put_object(container, 'seg', b'x' * 10)
    target = code_names()
    manifest = json.dumps([{'path': '/%s/seg' % container}]).encode()
    status, _h, body = raw(conn, 'PUT', 'storlet/' + target,
                           storlet_headers('%s.X' % target[:-3]), manifest,
                           query='multipart-manifest=put')
    assert status == 400 and UPLOAD_INSTEAD in body
    assert body.startswith(b'Static large object manifest')
    assert_never_registered(conn, target)


@pytest.mark.parametrize('header', ['X-Object-Manifest', 'X-Symlink-Target'])
def test_dlo_manifest_and_symlink_into_storlet_container_are_refused(
        conn, container, source, code_names, header):
    target = code_names()
    headers = storlet_headers('%s.X' % target[:-3],
                              **{header: '%s/%s' % source})
    status, _h, body = raw(conn, 'PUT', 'storlet/' + target, headers)
    assert status == 400 and body.startswith(header.encode())
    assert_never_registered(conn, target)


def _tar(name, meta):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(name)
        info.size = 4
        info.pax_headers = {'SCHILY.xattr.user.meta.' + k: v
                            for k, v in meta.items()}
        t.addfile(info, io.BytesIO(b'code'))
    return out.getvalue()


@pytest.mark.parametrize('into', ['account', 'container'])
def test_bulk_extract_into_storlet_container_validates_each_file(
        conn, code_names, into):
    target = code_names()
    meta = {'storlet-language': 'Python', 'storlet-interface-version': '9.9',
            'storlet-object-metadata': 'no',
            'storlet-main': '%s.X' % target[:-3]}
    if into == 'account':
        path, member = '', 'storlet/' + target
    else:
        path, member = 'storlet', target
    status, _h, body = raw(conn, 'PUT', path, {'Accept': 'application/json'},
                           _tar(member, meta), query='extract-archive=tar')
    assert status == 200
    report = json.loads(body)
    assert report['Number Files Created'] == 0
    assert report['Errors'] == [['storlet/' + target, '400 Bad Request']]
    assert_never_registered(conn, target)


def test_post_breaking_a_registration_is_refused(conn, container,
                                                 code_names):
    target = code_names()
    deploy(conn, 'identity.py', '%s.IdentityStorlet' % target[:-3],
           name=target)
    before = conn.head_object('storlet', target)
    status, _h, body = raw(conn, 'POST', 'storlet/' + target,
                           {'X-Object-Meta-Storlet-Language': 'Python',
                            'X-Object-Meta-Color': 'red'})
    assert (status, body) == (400,
                              b'Mandatory parameter is missing: Interface-Version')
    status, _h, body = raw(conn, 'POST', 'storlet/' + target, dict(
        storlet_headers('%s.IdentityStorlet' % target[:-3]),
        **{'X-Object-Manifest': '%s/x' % container}))
    assert status == 400 and body.startswith(b'X-Object-Manifest')
    after = conn.head_object('storlet', target)
    assert {k: v for k, v in after.items() if 'meta' in k} == \
        {k: v for k, v in before.items() if 'meta' in k}
    conn.put_object(container, 'o', b'still runs')
    assert storlet_get(conn, container, 'o', target)[1] == b'still runs'


def test_versioning_on_storlet_container_is_refused(conn):
    status, _h, body = raw(conn, 'POST', 'storlet',
                           {'X-Versions-Location': unique()})
    assert status == 400
    assert b'cannot be set on the storlet container' in body
    assert 'x-versions-location' not in conn.head_container('storlet')


# -- extra resources ------------------------------------------------------------

def _object_log_mentions(token):
    found = []
    for path in OBJECT_LOGS:
        try:
            with open(path, errors='replace') as f:
                found += [line for line in f if token in line]
        except FileNotFoundError:
            pass
    return found


def _limit(conn):
    return conn.get_capabilities(INFO_URL)['storlet_handler'][
        'max_extra_resources']


def test_info_publishes_a_real_limit(conn):
    assert 0 < _limit(conn) <= 60


def test_over_the_limit_is_400_before_any_backend_get(conn, container,
                                                      deployed):
    limit = _limit(conn)
    conn.put_object(container, 'o', b'main')
    token = unique('extra')
    extras = ','.join('/%s/%s-%d' % (container, token, i)
                      for i in range(limit + 1))
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'identity.py',
                    {'X-Storlet-Extra-Resources': extras})
    assert err.value.http_status == 400
    assert err.value.http_response_content == (
        b'Too many extra resources. %d was requested but only %d is '
        b'allowed,' % (limit + 1, limit))
    time.sleep(1)   # let the servers' log lines land
    assert _object_log_mentions(token) == []


def test_a_failing_third_resource_stops_the_reads(conn, container, deployed):
    conn.put_object(container, 'o', b'main')
    token = unique('extra')
    for i in (0, 1, 3):
        conn.put_object(container, '%s-%d' % (token, i), b'x')
    extras = ','.join('/%s/%s-%d' % (container, token, i) for i in range(4))
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'identity.py',
                    {'X-Storlet-Extra-Resources': extras})
    assert err.value.http_status == 404
    assert err.value.http_response_content == (
        b'Extra resource %s/%s-2: 404 Not Found' % (container.encode(),
                                                   token.encode()))
    time.sleep(1)
    gets = [line for line in _object_log_mentions(token) if '"GET ' in line]
    assert any('%s-2' % token in line for line in gets)
    assert not any('%s-3' % token in line for line in gets)
