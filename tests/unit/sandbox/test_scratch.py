"""Per-call scratch directories (storlets_agent/scratch.py, supervisor.py).

The helpers first (removal of whatever a storlet may leave: modes, depth,
symlinks, many files; measurement; the sweep), run as an unprivileged uid
where modes matter; then a real agent: each call gets a fresh directory as
cwd/TMPDIR/HOME, nothing of a call is there for the next one, and a call
that fills its directory past --max-scratch-size fails clearly.
"""
import json
import os
import shutil
import stat
import tempfile
import textwrap
import time
import traceback

import pytest

from storlets_agent import scratch
from tests.unit.sandbox.agentlib import free_uid

MIB = 1024 * 1024

SCRATCHY = textwrap.dedent('''
    import json, os, tempfile, time

    class Scratchy:
        """Reports where it is and what it finds, then leaves files
        everywhere it can: its scratch dir, TMPDIR, the root itself;
        with params['mib'], writes that much into its scratch dir."""
        def __init__(self, logger):
            pass
        def __call__(self, in_files, out_files, params):
            here = os.getcwd()
            root = os.path.dirname(here)
            report = {
                'cwd': here, 'tmpdir': os.environ.get('TMPDIR'),
                'home': os.environ.get('HOME'),
                'param': params.get('storlet_scratch_dir'),
                'gettempdir': tempfile.gettempdir(),
                'found_here': sorted(os.listdir(here)),
                'root': sorted(os.listdir(root)),
            }
            out_files[0].set_metadata({})
            open('left-in-cwd', 'w').write('x')
            tempfile.mkstemp()
            os.makedirs('deep/er/est')
            os.chmod('deep/er', 0)
            os.symlink('/etc', 'to-etc')
            with open(os.path.join(root, 'left-in-root'), 'w') as f:
                f.write('x')
            os.mkdir(os.path.join(root, 'dir-in-root'))
            for i in range(int(params.get('mib', '0'))):
                with open('big%d' % i, 'wb') as f:
                    f.write(b'z' * (1024 * 1024))
            # elsewhere: params['elsewhere'] (the root, the run directory)
            for i in range(int(params.get('elsewhere_mib', '0'))):
                with open(os.path.join(params['elsewhere'], 'junk%d' % i),
                          'wb') as f:
                    f.write(b'z' * (1024 * 1024))
            time.sleep(float(params.get('linger', '0')))
            out_files[0].write(json.dumps(report))
''')


def as_user(fn, *args):
    """Run ``fn(*args)`` in a child as a free uid (modes matter then);
    the child's exception text, or None."""
    uid = free_uid() if os.geteuid() == 0 else None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            fn(*args)
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, 'rb') as f:
        error = f.read().decode()
    _, status = os.waitpid(pid, 0)
    return error or (None if status == 0 else 'status %d' % status)


@pytest.fixture
def root():
    path = tempfile.mkdtemp(prefix='scratch-test-')
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def build_nasty_tree(top, outside):
    os.mkdir(top, 0o700)
    os.chdir(top)
    for i in range(500):
        open('f%d' % i, 'w').close()
    os.symlink(outside, 'link-to-outside')
    os.symlink(os.path.join(outside, 'keep'), 'link-to-file')
    # deeper than PATH_MAX and than Python's recursion limit
    for _ in range(3000):
        os.mkdir('d' * 10)
        os.chdir('d' * 10)
    open('bottom', 'w').write('x')
    os.chdir(top)
    os.makedirs('locked/inner')
    open('locked/inner/f', 'w').write('x')
    os.chmod('locked/inner', 0)
    os.chmod('locked', 0o500)
    os.makedirs('ro')
    open('ro/f', 'w').write('x')
    os.chmod('ro', 0o500)
    os.chmod(top, 0o500)


def test_remove_tree_removes_whatever_a_storlet_leaves(root):
    outside = os.path.join(root, 'outside')
    os.mkdir(outside)
    open(os.path.join(outside, 'keep'), 'w').write('keep')
    os.chmod(outside, 0o777)
    top = os.path.join(root, 'storlets-call-1-1')

    def build_and_remove():
        build_nasty_tree(top, outside)
        os.chdir('/')
        assert scratch.remove_tree(top)
    assert as_user(build_and_remove) is None
    assert not os.path.lexists(top)
    # the symlinks were removed, not followed
    assert sorted(os.listdir(outside)) == ['keep']
    assert open(os.path.join(outside, 'keep')).read() == 'keep'


def test_usage_counts_blocks_and_entries_without_following_links(root):
    top = os.path.join(root, 't')
    os.mkdir(top)
    with open(os.path.join(top, 'f'), 'wb') as f:
        f.write(b'x' * MIB)
    with open(os.path.join(top, 'sparse'), 'wb') as f:
        f.truncate(1024 * MIB)   # no blocks: takes no room
    os.symlink('/usr', os.path.join(top, 'usr'))
    used = scratch.usage(top)
    assert MIB + 3 * scratch.ENTRY_COST <= used < 2 * MIB
    # stops once past the limit
    for i in range(5000):
        open(os.path.join(top, 'e%d' % i), 'w').close()
    assert scratch.usage(top, limit=2 * MIB) < 3 * MIB


def test_sweep_keeps_live_owners_directories_only(root):
    live = scratch.create(root, os.getpid(), 7)
    dead_pid = 2 ** 22 + 12345    # above pid_max: never alive
    dead = scratch.create(root, dead_pid, 1)
    open(os.path.join(live, 'in-use'), 'w').close()
    open(os.path.join(dead, 'stale'), 'w').close()
    open(os.path.join(root, 'loose'), 'w').close()
    os.symlink('/etc', os.path.join(root, 'link'))
    os.mkdir(os.path.join(root, 'storlets-call-garbage'))
    removed = scratch.sweep(root)
    assert sorted(removed) == sorted([os.path.basename(dead), 'loose',
                                      'link', 'storlets-call-garbage'])
    assert os.listdir(root) == [os.path.basename(live)]
    assert os.listdir(live) == ['in-use']
    assert os.path.isdir('/etc')


# -- a real agent -------------------------------------------------------------

@pytest.mark.parametrize('unprivileged', [False, True])
def test_each_call_gets_a_fresh_scratch_dir_and_leaves_nothing(
        make_agent, root, unprivileged):
    agent = make_agent('--scratch-root', root, unprivileged=unprivileged)
    agent.write_storlet('scratchy.py', SCRATCHY)
    daemon_sock = agent.started('scratchy.Scratchy')
    seen = []
    for _ in range(3):
        result = agent.execute(daemon_sock)
        assert result.reply == {'ok': True}, result.log
        seen.append(json.loads(result.output))
    for report in seen:
        here = report['cwd']
        assert os.path.dirname(here) == root
        assert os.path.basename(here).startswith(scratch.PREFIX)
        assert report['tmpdir'] == report['home'] == report['param'] \
            == report['gettempdir'] == here
        assert report['found_here'] == []
        # nothing of the call before: only scratch dirs (this call's,
        # a spare's)
        assert all(name.startswith(scratch.PREFIX)
                   for name in report['root']), report['root']
    assert len({report['cwd'] for report in seen}) == 3
    names = os.listdir(root)
    assert all(name.startswith(scratch.PREFIX) for name in names), names
    for name in names:   # the spare's, empty
        assert os.listdir(os.path.join(root, name)) == []


def test_a_call_past_max_scratch_size_fails_and_the_next_has_room(
        make_agent, root):
    agent = make_agent('--scratch-root', root,
                       '--max-scratch-size', str(4 * MIB))
    agent.write_storlet('scratchy.py', SCRATCHY)
    daemon_sock = agent.started('scratchy.Scratchy')
    error = ('Storlet scratch directory exceeded %d bytes '
             '(--max-scratch-size): call killed' % (4 * MIB))
    # killed while it runs (it would linger 20 s), or failed once it ended
    for params in ({'mib': '10', 'linger': '20'}, {'mib': '10'}):
        agent.truncate_log()
        began = time.monotonic()
        result = agent.execute(daemon_sock, params=params, timeout=30)
        assert time.monotonic() - began < 5
        assert result.reply == {'ok': False, 'error': error}
        assert result.log.endswith('scratchy.Scratchy ERROR: %s\n' % error)
        names = os.listdir(root)
        assert all(name.startswith(scratch.PREFIX) for name in names), names
        assert sum(scratch.usage(os.path.join(root, n)) for n in names) == 0
    agent.truncate_log()
    result = agent.execute(daemon_sock, params={'mib': '2'})
    assert result.reply == {'ok': True}
    assert json.loads(result.output)['found_here'] == []


def test_without_scratch_root_nothing_changes(agent, root):
    agent.write_storlet('scratchy2.py', SCRATCHY.replace(
        "root = os.path.dirname(here)", "root = %r" % root).replace(
        # the worker's cwd is the test's here: leave nothing in it
        "open('left-in-cwd'", "os.chdir(%r); open('left-in-cwd'" % root))
    result = agent.execute(agent.started('scratchy2.Scratchy'))
    report = json.loads(result.output)
    assert report['param'] is None
    assert not report['cwd'].startswith(root)
    assert stat.S_ISREG(os.lstat(os.path.join(root, 'left-in-root')).st_mode)


@pytest.mark.parametrize('where', ['root', 'run dir'])
def test_junk_outside_the_scratch_dir_counts_and_is_swept(make_agent, root,
                                                           where):
    agent = make_agent('--scratch-root', root,
                       '--max-scratch-size', str(4 * MIB))
    agent.write_storlet('scratchy.py', SCRATCHY)
    daemon_sock = agent.started('scratchy.Scratchy')
    elsewhere = root if where == 'root' else agent.run_dir
    sockets = sorted(os.listdir(agent.run_dir))
    # under the limit: the call succeeds, its junk is swept all the same
    result = agent.execute(daemon_sock, params={
        'elsewhere': elsewhere, 'elsewhere_mib': '1'})
    assert result.reply == {'ok': True}, result.log
    assert sorted(os.listdir(agent.run_dir)) == sockets
    assert all(n.startswith(scratch.PREFIX) for n in os.listdir(root))
    # over it: killed while it lingers
    began = time.monotonic()
    result = agent.execute(daemon_sock, timeout=30, params={
        'elsewhere': elsewhere, 'elsewhere_mib': '6', 'linger': '20'})
    assert time.monotonic() - began < 5
    assert 'scratch directory exceeded' in result.reply['error']
    assert sorted(os.listdir(agent.run_dir)) == sockets
    assert all(n.startswith(scratch.PREFIX) for n in os.listdir(root))
    assert agent.execute(daemon_sock).reply == {'ok': True}
