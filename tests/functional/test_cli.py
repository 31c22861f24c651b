"""The storlets command against the all-in-one, as a user types it."""
import os
import subprocess
import uuid

from tests.functional.conftest import AUTH, STORLETS_DIR

ENV = dict(os.environ, ST_AUTH=AUTH, ST_USER='test:tester', ST_KEY='testing')


def storlets(*args, check=True, stdin=None):
    return subprocess.run(['storlets'] + list(args), env=ENV, check=check,
                          capture_output=True, timeout=120, input=stdin)


def test_cli_end_to_end(conn, tmp_path):
    container = 'cli-' + uuid.uuid4().hex[:8]
    conn.put_container(container)
    conn.put_object(container, 'o', b'one\ntwo\n')
    try:
        assert b'storlets enabled' in storlets('enable').stdout
        dry = storlets('deploy', os.path.join(STORLETS_DIR, 'exec_dep.py'),
                       '--dep', os.path.join(STORLETS_DIR, 'get42.sh'),
                       '--dep-perm', '0755', '--dry-run').stdout
        assert b'Main=exec_dep.ExecDepStorlet' in dry
        storlets('deploy', os.path.join(STORLETS_DIR, 'exec_dep.py'),
                 '--dep', os.path.join(STORLETS_DIR, 'get42.sh'),
                 '--dep-perm', '0755')
        storlets('deploy', os.path.join(STORLETS_DIR, 'reverse_lines.py'))
        listed = storlets('list').stdout.decode().split()
        assert 'exec_dep.py' in listed and 'reverse_lines.py' in listed
        out = storlets('run', container, 'o', 'exec_dep.py').stdout
        assert out == b'dependency v1\n'
        out = storlets('run', container, 'o', 'reverse_lines.py',
                       '--on-proxy', '--range', 'bytes=0-3').stdout
        assert out == b'eno\n'
        src = tmp_path / 'up.txt'
        src.write_bytes(b'abc\n')
        storlets('run', container, 'up', 'reverse_lines.py', '--put',
                 str(src))
        assert conn.get_object(container, 'up')[1] == b'cba\n'
        storlets('run', container, 'o', 'reverse_lines.py', '--copy-to',
                 '%s/copied' % container)
        assert conn.get_object(container, 'copied')[1] == b'eno\nowt\n'
        storlets('acl', 'grant', container, 'tester3', 'reverse_lines.py')
        read_acl = conn.head_container(container)['x-container-read']
        assert '.r:storlets.tester3_reverse_lines.py' in read_acl
        storlets('acl', 'revoke', container, 'tester3', 'reverse_lines.py')
        assert 'storlets.tester3' not in conn.head_container(
            container).get('x-container-read', '')
        failed = storlets('run', container, 'o', 'no-such.py', check=False)
        assert failed.returncode == 1
        assert failed.stderr.startswith(b'storlets: GET failed: 401')
    finally:
        for obj in conn.get_container(container)[1]:
            conn.delete_object(container, obj['name'])
        conn.delete_container(container)


def test_cli_logs(conn):
    storlets('deploy', os.path.join(STORLETS_DIR, 'broken.py'))
    conn.put_object('mycontainer', 'log-src', b'x')
    storlets('run', 'mycontainer', 'log-src', 'broken.py', check=False)
    # a run with the log header, through the API, then the log via the CLI
    try:
        conn.get_object('mycontainer', 'log-src', headers={
            'X-Run-Storlet': 'broken.py', 'X-Storlet-Generate-Log': 'true'})
    except Exception:
        pass
    log = storlets('logs', 'broken.py').stdout
    assert b'about to fail' in log


def test_python_guide_deploy_and_run(conn, tmp_path):
    """docs/writing-python-storlets.md, its deploy and run commands."""
    from tests.unit.tools.test_docs import blocks
    (tmp_path / 'upper.py').write_text(blocks('python')[0])
    deploy_block = blocks('sh')[1]
    assert 'storlets deploy upper.py' in deploy_block
    subprocess.run(['storlets', 'deploy', 'upper.py'], cwd=str(tmp_path),
                   env=ENV, check=True, capture_output=True, timeout=120)
    conn.put_object('mycontainer', 'guide-object', b'hello\nworld\n')
    out = storlets('run', 'mycontainer', 'guide-object', 'upper.py',
                   '-p', 'report=yes').stdout
    assert out == b'HELLO\nWORLD\n-- 2 lines\n'
    conn.delete_object('mycontainer', 'guide-object')
