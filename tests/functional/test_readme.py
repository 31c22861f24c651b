"""The README's shell blocks, run verbatim against the all-in-one: the quick
start (deploy the Python identity storlet with the plain swift CLI and run
it) and "Writing a Java storlet" (build the API jar, compile and package
with javac and jar alone, deploy with ``storlets deploy``, run)."""
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
README = os.path.join(REPO, 'README.md')


def section(title):
    """The text of one README section (up to the next ``## ``)."""
    with open(README) as f:
        text = f.read()
    start = text.index('\n## %s\n' % title)
    end = text.find('\n## ', start + 1)
    return text[start:end if end > 0 else None]


def blocks(text, language):
    return re.findall(r'```%s\n(.*?)```' % language, text, re.S)


def run(script, cwd, home=None):
    env = dict(os.environ)
    if home:
        env['HOME'] = home
    return subprocess.run(['bash', '-e', '-c', script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_quick_start_verbatim():
    # the second block: after `devstack/aio.sh up` (which this suite runs)
    script = blocks(section('Quick start (Debian 12, as root)'), 'sh')[1]
    result = run(script, REPO)
    assert result.returncode == 0, result.stderr
    # swift upload names what it uploaded, then the storlet's output
    assert result.stdout.splitlines() == ['identity.py', 'myobject',
                                          'Hello from storlets!']


@pytest.mark.skipif(not shutil.which('javac'),
                    reason='requires a JDK: apt-get install '
                           'default-jdk-headless')
def test_writing_a_java_storlet_verbatim(tmp_path):
    quick_start = blocks(section('Quick start (Debian 12, as root)'), 'sh')[1]
    assert run(quick_start, REPO).returncode == 0    # mycontainer/myobject
    text = section('Writing a Java storlet')
    [source] = blocks(text, 'java')
    [script] = blocks(text, 'sh')
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'storlets').symlink_to(REPO)             # "a checkout in ~/storlets"
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'IdentityStorlet.java').write_text(source)
    env_lines = [line for line in quick_start.splitlines()
                 if line.startswith('export ')]
    result = run('\n'.join(env_lines) + '\n' + script, str(work),
                 home=str(home))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith('deployed identity-1.0.jar\n'
                                  'Hello from storlets!\n')
    assert 'Main=IdentityStorlet' in result.stdout
