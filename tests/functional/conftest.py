"""Fixtures for functional tests against the all-in-one.

Tests own the account state they depend on: ``promised_accounts`` (every
session) makes sure AUTH_test and AUTH_test4 are as devstack/aio.sh
promises -- storlets enabled, containers storlet, dependency and
storletlog, test:tester3 reading AUTH_test's storlet and dependency
containers, no account or container quota in the way -- and
``test2_disabled`` that AUTH_test2 is not enabled for storlets. Each
changes only what differs and puts it back afterwards, so a hand change or
an earlier failed run cannot fail the suite, and the suite leaves an
account as it found it.
"""
import contextlib
import os
import subprocess
import uuid

import pytest
from swift.common.utils import config_true_value

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


def admin_in(account):
    """A connection to ``account`` as the reseller admin (``admin:admin``),
    who may also create accounts and set their quotas."""
    import swiftclient
    url, token = swiftclient.get_auth(AUTH, 'admin:admin', 'admin')
    base = url.rsplit('/', 1)[0]
    return swiftclient.Connection(preauthurl='%s/%s' % (base, account),
                                  preauthtoken=token, retries=0)


# -- account state the tests depend on ---------------------------------------

ENABLED = 'X-Account-Meta-Storlet-Enabled'
QUOTAS = {'account': ('X-Account-Meta-Quota-Bytes',
                      'X-Account-Meta-Quota-Count'),
          'container': ('X-Container-Meta-Quota-Bytes',
                        'X-Container-Meta-Quota-Count')}
#: account -> (its standard containers, {container: reader to have})
PROMISED = {
    'AUTH_test': (('storlet', 'dependency', 'storletlog'),
                  {'storlet': 'test:tester3', 'dependency': 'test:tester3'}),
    'AUTH_test4': (('storlet', 'dependency', 'storletlog'), {}),
}


def enabled(old):
    return old if config_true_value(old) else 'true'


def disabled(old):
    return None if config_true_value(old) else old


def absent(_old):
    return None


def reader(user):
    def wanted(old):
        entries = [e.strip() for e in (old or '').split(',') if e.strip()]
        return old if user in entries else ','.join(entries + [user])
    return wanted


def _post_header(post, header, value):
    if value is None:
        post({'X-Remove-' + header[len('X-'):]: '1'})
    else:
        post({header: value})


@contextlib.contextmanager
def metadata_as(head, post, wanted):
    """Within the block, each header of ``wanted`` is ``wanted[header](old
    value or None)`` (None: absent), as seen by ``head()`` and set by
    ``post(headers)``; afterwards the changed ones are put back."""
    current = head()
    changed = {}
    for header, want in wanted.items():
        old = current.get(header.lower())
        new = want(old)
        if new != old:
            _post_header(post, header, new)
            changed[header] = old
    try:
        yield changed
    finally:
        for header, old in changed.items():
            _post_header(post, header, old)


@pytest.fixture(scope='session', autouse=True)
def promised_accounts():
    """AUTH_test and AUTH_test4 as devstack/aio.sh promises (module doc)."""
    with contextlib.ExitStack() as stack:
        for account, (containers, readers) in PROMISED.items():
            conn = admin_in(account)
            stack.callback(conn.close)
            wanted = dict.fromkeys(QUOTAS['account'], absent)
            wanted[ENABLED] = enabled
            stack.enter_context(metadata_as(conn.head_account,
                                            conn.post_account, wanted))
            for container in containers:
                conn.put_container(container)
                wanted = dict.fromkeys(QUOTAS['container'], absent)
                if container in readers:
                    wanted['X-Container-Read'] = reader(readers[container])
                stack.enter_context(metadata_as(
                    lambda c=container: conn.head_container(c),
                    lambda headers, c=container: conn.post_container(
                        c, headers), wanted))
        yield


@pytest.fixture(scope='session')
def test2_disabled():
    """AUTH_test2 not enabled for storlets (as before, afterwards)."""
    conn = connection('tester2')
    with metadata_as(conn.head_account, conn.post_account,
                     {ENABLED: disabled}):
        yield conn
    conn.close()


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
