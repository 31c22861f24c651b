"""Storlet dependencies: fetched with the storlet, in its directory,
permissions honoured, updates picked up."""
import os

import pytest
from swiftclient import ClientException

from tests.functional.conftest import STORLETS_DIR, deploy, storlet_get


def upload_dep(conn, name, body, perms=None):
    headers = {'X-Object-Meta-Storlet-Dependency-Version': '1'}
    if perms:
        headers['X-Object-Meta-Storlet-Dependency-Permissions'] = perms
    conn.put_object('dependency', name, body, headers=headers)


@pytest.fixture
def exec_dep(conn):
    with open(os.path.join(STORLETS_DIR, 'get42.sh'), 'rb') as f:
        script = f.read()
    upload_dep(conn, 'get42.sh', script, '0755')
    with open(os.path.join(STORLETS_DIR, 'exec_dep.py'), 'rb') as f:
        source = f.read()
    conn.put_object('storlet', 'exec_dep.py', source, headers={
        'X-Object-Meta-Storlet-Language': 'Python',
        'X-Object-Meta-Storlet-Interface-Version': '1.0',
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': 'exec_dep.ExecDepStorlet',
        'X-Object-Meta-Storlet-Dependency': 'get42.sh'})
    return script


def test_executable_dependency_runs(conn, container, exec_dep, placement):
    conn.put_object(container, 'o', b'')
    headers, body = storlet_get(conn, container, 'o', 'exec_dep.py',
                                placement)
    assert headers['x-object-meta-depend-ret-code'] == '42'
    assert body == b'dependency v1\n'


def test_dependency_update_is_picked_up(conn, container, exec_dep):
    conn.put_object(container, 'o', b'')
    assert storlet_get(conn, container, 'o', 'exec_dep.py')[1] == \
        b'dependency v1\n'
    upload_dep(conn, 'get42.sh', exec_dep.replace(b'v1', b'v2'), '0755')
    assert storlet_get(conn, container, 'o', 'exec_dep.py')[1] == \
        b'dependency v2\n'


def test_non_executable_dependency_cannot_run(conn, container, exec_dep):
    upload_dep(conn, 'get42.sh', exec_dep, '0644')
    conn.put_object(container, 'o', b'')
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', 'exec_dep.py')
    assert err.value.http_status == 503


def test_python_helper_module_dependency(conn, container):
    upload_dep(conn, 'helper_mod.py', b'GREETING = b"hello from a helper"\n')
    deploy(conn, None, 'uses_helper.UsesHelperStorlet', name='uses_helper.py',
           source=b'import helper_mod\n'
                  b'class UsesHelperStorlet(object):\n'
                  b'    def __init__(self, logger):\n        pass\n'
                  b'    def __call__(self, i, o, p):\n'
                  b'        o[0].set_metadata({})\n'
                  b'        o[0].write(helper_mod.GREETING)\n'
                  b'        o[0].close()\n')
    conn.post_object('storlet', 'uses_helper.py', headers={
        'X-Object-Meta-Storlet-Language': 'Python',
        'X-Object-Meta-Storlet-Interface-Version': '1.0',
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': 'uses_helper.UsesHelperStorlet',
        'X-Object-Meta-Storlet-Dependency': 'helper_mod.py'})
    conn.put_object(container, 'o', b'')
    assert storlet_get(conn, container, 'o', 'uses_helper.py')[1] == \
        b'hello from a helper'

