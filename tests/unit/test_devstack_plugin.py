"""The devstack plugin: shellcheck-clean, and a dry run with stand-ins for
devstack's functions against fake Swift configs (no root, no network)."""
import configparser
import os
import shutil
import subprocess
import textwrap

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEVSTACK = os.path.join(REPO, 'devstack')

PROXY_PIPELINE = (
    'catch_errors gatekeeper healthcheck proxy-logging cache container_sync '
    'bulk tempurl ratelimit crossdomain authtoken keystoneauth tempauth '
    'formpost staticweb copy container-quotas account-quotas slo dlo '
    'versioned_writes symlink proxy-logging proxy-server')
OBJECT_PIPELINE = 'healthcheck recon object-server'

# A line-based iniset/iniget, like devstack's (which uses sed).
INI_PY = r'''
import re, sys
def main(cmd, path, section, option, value=None):
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        lines = []
    start = None
    for i, line in enumerate(lines):
        if line.strip() == '[%s]' % section:
            start = i
            break
    end = len(lines)
    if start is not None:
        for j in range(start + 1, len(lines)):
            if lines[j].startswith('['):
                end = j
                break
    pat = re.compile(r'^\s*%s\s*=\s?(.*)$' % re.escape(option))
    found = None
    if start is not None:
        for j in range(start + 1, end):
            m = pat.match(lines[j])
            if m:
                found = j
                break
    if cmd == 'get':
        if found is not None:
            print(pat.match(lines[found]).group(1).strip())
        return
    entry = '%s = %s' % (option, value)
    if start is None:
        lines += ['', '[%s]' % section, entry]
    elif found is None:
        lines.insert(start + 1, entry)
    else:
        lines[found] = entry
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
main(*sys.argv[1:])
'''

STANDINS = r'''
set -eu
rec() { printf '%s\n' "$*" >>"$CALLS"; }
is_service_enabled() { return 0; }
define_plugin() { rec define_plugin "$@"; }
enable_service() { rec enable_service "$@"; }
echo_summary() { echo "$@"; }
die() { echo "die: $*" >&2; exit 1; }
iniget() { python3 "$INI_PY" get "$@"; }
iniset() { python3 "$INI_PY" set "$@"; }
install_package() { rec install_package "$@"; }
pip_install() { rec pip_install "$@"; }
setup_develop() { rec setup_develop "$@"; }
sudo() { rec sudo "$@"; "$@"; }
swift() { rec swift "$@"; }
docker() { rec docker "$@"; }
stop_swift() { rec stop_swift; }
start_swift() { rec start_swift; }
source "$DEVSTACK/settings"
source "$DEVSTACK/plugin.sh" "$@"
'''


def test_shellcheck():
    shellcheck = shutil.which('shellcheck')
    assert shellcheck, 'shellcheck is not installed (apt-get install shellcheck)'
    result = subprocess.run(
        [shellcheck, '-x', 'devstack/plugin.sh', 'devstack/settings'],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def dry(tmp_path):
    swift_dir = tmp_path / 'swift'
    (swift_dir / 'object-server').mkdir(parents=True)
    (swift_dir / 'proxy-server.conf').write_text(textwrap.dedent('''\
        [DEFAULT]
        bind_port = 8080

        [pipeline:main]
        pipeline = %s

        [app:proxy-server]
        use = egg:swift#proxy

        [filter:copy]
        use = egg:swift#copy
        ''' % PROXY_PIPELINE))
    for n in (1, 2):
        (swift_dir / 'object-server' / ('%d.conf' % n)).write_text(
            textwrap.dedent('''\
            [DEFAULT]
            bind_port = 62%d0

            [pipeline:main]
            pipeline = %s

            [app:object-server]
            use = egg:swift#object
            ''' % (n, OBJECT_PIPELINE)))
    ini_py = tmp_path / 'ini.py'
    ini_py.write_text(INI_PY)
    build = tmp_path / 'fake-build-image.sh'
    build.write_text('#!/bin/bash\necho "build-image $*" >>"$CALLS"\n'
                     'echo "building..."\necho storlets-sandbox:0123abcd\n')
    build.chmod(0o755)
    calls = tmp_path / 'calls'
    env = dict(os.environ, CALLS=str(calls), INI_PY=str(ini_py),
               DEVSTACK=DEVSTACK, STORLETS_DIR=REPO,
               SWIFT_CONF_DIR=str(swift_dir),
               STORLETS_HOST_ROOT=str(tmp_path / 'host_root'),
               STORLETS_BUILD_IMAGE_CMD=str(build),
               OS_AUTH_URL='http://keystone.invalid/identity/v3',
               OS_USERNAME='admin', OS_PASSWORD='secret')
    env.pop('STORLETS_GATEWAY_CONF', None)

    def run(*args):
        result = subprocess.run(['bash', '-c', STANDINS, 'dry'] + list(args),
                                env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return calls.read_text() if calls.exists() else ''

    run.swift_dir = swift_dir
    run.calls = calls
    run.env = env
    return run


def read(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(str(path))
    return parser


def snapshot(directory):
    return {str(p): p.read_bytes() for p in sorted(directory.rglob('*'))
            if p.is_file()}


def test_post_config(dry):
    dry('stack', 'post-config')
    swift_dir = dry.swift_dir
    proxy = read(swift_dir / 'proxy-server.conf')
    words = proxy['pipeline:main']['pipeline'].split()
    assert words.count('storlet_handler') == 1
    assert words[words.index('storlet_handler') + 1] == 'copy'
    assert [w for w in words if w != 'storlet_handler'] == \
        PROXY_PIPELINE.split()
    section = proxy['filter:storlet_handler']
    assert section['use'] == 'egg:storlets#storlet_handler'
    assert section['execution_server'] == 'proxy'
    assert section['storlet_gateway_module'] == 'docker'
    gateway_conf = swift_dir / 'storlet-docker-gateway.conf'
    assert section['storlet_gateway_conf'] == str(gateway_conf)
    assert (section['storlet_container'], section['storlet_dependency'],
            section['storlet_logcontainer']) == \
        ('storlet', 'dependency', 'storletlog')
    for n in (1, 2):
        conf = read(swift_dir / 'object-server' / ('%d.conf' % n))
        assert conf['pipeline:main']['pipeline'] == \
            'healthcheck recon storlet_handler object-server'
        section = conf['filter:storlet_handler']
        assert section['use'] == 'egg:storlets#storlet_handler'
        assert section['execution_server'] == 'object'
    gateway = read(gateway_conf)['DEFAULT']
    assert gateway['host_root'] == str(swift_dir.parent / 'host_root')
    assert gateway['storlet_timeout'] == '40'

    before = snapshot(swift_dir)
    dry('stack', 'post-config')
    assert snapshot(swift_dir) == before


def test_proxy_without_copy_goes_before_slo(dry):
    conf = dry.swift_dir / 'proxy-server.conf'
    conf.write_text(conf.read_text().replace(' copy ', ' '))
    dry('stack', 'post-config')
    words = read(conf)['pipeline:main']['pipeline'].split()
    assert words[words.index('storlet_handler') + 1] == 'slo'


def test_install_and_extra(dry):
    calls = dry('stack', 'install').splitlines()
    assert 'install_package docker.io debootstrap' in calls
    assert 'install_package default-jdk-headless gcc libc6-dev' in calls
    assert 'setup_develop %s' % REPO in calls

    dry('stack', 'post-config')
    calls = dry('stack', 'extra').splitlines()
    assert 'build-image --java' in calls
    gateway = read(dry.swift_dir / 'storlet-docker-gateway.conf')['DEFAULT']
    assert gateway['sandbox_image'] == 'storlets-sandbox:0123abcd'
    swift_calls = [c for c in calls if c.startswith('swift ')]
    account_post = [c for c in swift_calls
                    if c.endswith("post -H X-Account-Meta-Storlet-Enabled: True")]
    assert len(account_post) == 1
    assert '--os-project-name demo' in account_post[0]
    for container in ('storlet', 'dependency', 'storletlog'):
        assert any(c.endswith('post ' + container) for c in swift_calls)
    # Swift is restarted so that it reads the new sandbox image.
    assert calls.index('stop_swift') < calls.index('start_swift')


def test_python_only(dry):
    dry.env['STORLETS_JAVA'] = 'False'
    calls = dry('stack', 'install').splitlines()
    assert not any('jdk' in c for c in calls)
    dry('stack', 'post-config')
    calls = dry('stack', 'extra').splitlines()
    assert 'build-image ' in calls


def test_unstack_and_clean(dry):
    dry('stack', 'post-config')
    calls = dry('unstack').splitlines()
    assert any(c.startswith('docker ps') for c in calls)
    dry('clean')
    assert not (dry.swift_dir / 'storlet-docker-gateway.conf').exists()
