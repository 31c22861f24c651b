"""Static checks run in CI: shellcheck on every shell file of the
repository, and the type checker on the annotated interfaces of the package
and the sandbox agent."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SKIP_DIRS = {'.git', '__pycache__', '.pytest_cache', '.hypothesis',
             'node_modules', 'build'}
#: sourced by devstack, so without a shebang
SOURCED = {'devstack/settings'}


def shell_files():
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS
                   and not d.endswith('.egg-info')]
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, REPO)
            if name.endswith('.sh') or rel in SOURCED:
                found.append(rel)
                continue
            try:
                with open(path, 'rb') as f:
                    first = f.readline(100)
            except OSError:
                continue
            if first.startswith(b'#!') and (b'bash' in first
                                            or first.rstrip().endswith(b'sh')):
                found.append(rel)
    return sorted(found)


def test_shell_files_are_found():
    files = shell_files()
    assert {'devstack/aio.sh', 'devstack/plugin.sh', '.ci/run'} <= set(files)


def test_shellcheck_every_shell_file():
    shellcheck = shutil.which('shellcheck')
    assert shellcheck, 'shellcheck is not installed (apt-get install shellcheck)'
    run = subprocess.run([shellcheck, '-x'] + shell_files(), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize('target, cwd', [
    ('storlets', REPO),
    ('storlets_agent', os.path.join(REPO, 'sandbox')),
])
def test_type_check(target, cwd):
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail('mypy is not installed (devstack/aio.sh puts it in the '
                    'venv; pip install mypy)')
    env = dict(os.environ, MYPYPATH=REPO)
    run = subprocess.run(
        [sys.executable, '-m', 'mypy', '--ignore-missing-imports',
         '--python-version', '3.11', '--cache-dir', os.devnull, target],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
