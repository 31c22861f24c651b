"""Fixtures for functional tests against the all-in-one."""
import os
import subprocess
import uuid

import pytest

STORLETS_DIR = os.path.join(os.path.dirname(__file__), 'storlets')
AUTH = os.environ.get('ST_AUTH', 'http://127.0.0.1:8080/auth/v1.0')
USERS = {
    'tester': ('test:tester', 'testing'),
    'tester2': ('test2:tester2', 'testing2'),
    'tester3': ('test:tester3', 'testing3'),
    'tester4': ('test4:tester4', 'testing4'),
}


def pytest_collection_modifyitems(config, items):
    if os.environ.get('STORLETS_AIO') == '1':
        return
    skip = pytest.mark.skip(reason='functional tests requires the all-in-one: '
                            'run them with devstack/aio.sh test')
    for item in items:
        if 'tests/functional' in str(item.fspath):
            item.add_marker(skip)


def connection(user='tester'):
    import swiftclient
    name, key = USERS[user]
    return swiftclient.Connection(AUTH, name, key, retries=0)


@pytest.fixture(scope='session')
def conn():
    c = connection()
    c.head_account()   # fail (not skip) if the all-in-one is not up
    return c


@pytest.fixture
def container(conn):
    """A fresh container, deleted with its objects after the test."""
    name = 'functest-' + uuid.uuid4().hex[:10]
    conn.put_container(name)
    yield name
    for obj in conn.get_container(name, full_listing=True)[1]:
        conn.delete_object(name, obj['name'])
    conn.delete_container(name)


def storlet_headers(main, language='Python', **extra):
    headers = {
        'X-Object-Meta-Storlet-Language': language,
        'X-Object-Meta-Storlet-Interface-Version': '1.0',
        'X-Object-Meta-Storlet-Object-Metadata': 'no',
        'X-Object-Meta-Storlet-Main': main,
    }
    headers.update(extra)
    return headers


def deploy(conn, filename, main, name=None, source=None):
    """Upload a test storlet (from tests/functional/storlets) to `storlet`."""
    if source is None:
        with open(os.path.join(STORLETS_DIR, filename), 'rb') as f:
            source = f.read()
    conn.put_object('storlet', name or filename, source,
                    headers=storlet_headers(main))
    return name or filename


@pytest.fixture(scope='session')
def deployed(conn):
    """The standard test storlets, deployed once per session."""
    for filename, cls in [
            ('identity.py', 'IdentityStorlet'),
            ('metadata_setter.py', 'MetadataSetterStorlet'),
            ('echo_params.py', 'EchoParamsStorlet'),
            ('broken.py', 'BrokenStorlet'),
            ('slow.py', 'SlowStorlet'),
            ('fail_after_output.py', 'FailAfterOutputStorlet'),
            ('inspect_sandbox.py', 'InspectSandboxStorlet'),
            ('multi_input.py', 'MultiInputStorlet'),
            ('count_runs.py', 'CountRunsStorlet'),
            ('reverse_lines.py', 'ReverseLinesStorlet')]:
        deploy(conn, filename, '%s.%s' % (filename[:-3], cls))
    return True


def swift_cli(*args, user='tester', cwd=None, check=True):
    """Run the unchanged `swift` CLI as a user; return CompletedProcess."""
    name, key = USERS[user]
    cmd = ['swift', '-A', AUTH, '-U', name, '-K', key] + list(args)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, check=check,
                          timeout=120)


@pytest.fixture(params=['object', 'proxy'])
def placement(request):
    """Run a test as it is and again with ``X-Storlet-Run-On-Proxy:``.

    Yields the extra headers; ``placement.param`` tells which run it is.
    """
    return {} if request.param == 'object' else {'X-Storlet-Run-On-Proxy': ''}


def storlet_get(conn, container, obj, storlet, headers=None, query=None):
    h = {'X-Run-Storlet': storlet}
    h.update(headers or {})
    return conn.get_object(container, obj, headers=h, query_string=query)


def object_absent(conn, container, obj):
    from swiftclient import ClientException
    try:
        conn.head_object(container, obj)
    except ClientException as err:
        return err.http_status == 404
    return False
