"""The sandbox image holds the agent and nothing of the host side.

The files are the ones ``devstack/build-image.sh`` ships (its
``CONTEXT_FILES``, the only list of them), laid out as in the image; the
agent is imported from them alone, by the system Python without
site-packages, as the image runs it: Swift, eventlet, docker and the host
half of the package are never loaded. The gateway's command line is one the
agent accepts, and the Dockerfile leaves starting the agent to it.
"""
import os
import re
import shutil
import subprocess

from storlets import layout
from storlets.gateway.docker import DockerGatewayConfig, container_run_kwargs

REPO = os.path.join(os.path.dirname(__file__), '..', '..', '..')
HOST_ONLY = ('swift', 'eventlet', 'docker', 'storlets.gateway',
             'storlets.middleware', 'storlets.tools', 'storlets.languages')


def context_files():
    with open(os.path.join(REPO, 'devstack', 'build-image.sh')) as f:
        text = f.read()
    body = re.search(r'^CONTEXT_FILES=\((.*?)\)', text, re.S | re.M).group(1)
    return [entry.split(':', 1) for entry in body.split()]


def install(root):
    for src, dest in context_files():
        source, target = os.path.join(REPO, src), os.path.join(root, dest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        else:
            shutil.copy(source, target)


def image_python(root, code, *args):
    """Run ``code`` as the image would: its files only, no site-packages."""
    return subprocess.run(
        ['/usr/bin/python3', '-I', '-S', '-c',
         'import sys; sys.path.insert(0, %r)\n%s' % (root, code)] + list(args),
        capture_output=True, text=True, timeout=60)


def test_the_agent_runs_from_the_image_files_alone(tmp_path):
    install(str(tmp_path))
    run = image_python(str(tmp_path), '''
import pkgutil, importlib
import storlets_agent
for mod in pkgutil.walk_packages(storlets_agent.__path__, 'storlets_agent.'):
    importlib.import_module(mod.name)
print(' '.join(sorted(m for m in sys.modules)))
''')
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    assert 'storlets_agent.factory' in loaded
    assert 'storlets_agent.languages' in loaded
    for name in HOST_ONLY:
        assert not [m for m in loaded if m == name or
                    m.startswith(name + '.')], name


def test_the_agent_accepts_the_gateways_command_line(tmp_path):
    install(str(tmp_path))
    argv = container_run_kwargs(DockerGatewayConfig.from_conf({}),
                                'scope')['entrypoint']
    assert argv[:4] == [layout.PYTHON, '-m', 'storlets_agent', 'factory']
    run = image_python(str(tmp_path), '''
import runpy
sys.argv = ['storlets_agent'] + sys.argv[1:]
runpy.run_module('storlets_agent', run_name='__main__')
''', 'factory', '--help')
    assert run.returncode == 0, run.stderr
    for option in (a for a in argv[4:] if a.startswith('--')):
        assert option in run.stdout, option


def test_the_dockerfile_copies_the_agent_and_starts_nothing():
    with open(os.path.join(REPO, 'sandbox', 'Dockerfile')) as f:
        lines = [line.split() for line in f
                 if line.strip() and not line.startswith('#')]
    assert ['COPY', 'agent/', layout.AGENT_ROOT + '/'] in lines
    assert not [line for line in lines if line[0] in ('ENTRYPOINT', 'CMD')]
    # the agent's bytecode is in the image: a read-only sandbox cannot
    # write it, and compiling at every start would slow every cold start
    assert ['RUN', 'python3', '-m', 'compileall', '-q', '--invalidation-mode',
            'checked-hash', layout.AGENT_ROOT] in lines
