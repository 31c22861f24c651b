"""storlets.tools.jarinfo: storlet classes found in real jars built by javac."""
import os
import shutil
import subprocess
import textwrap

import pytest

from storlets.tools import cli
from storlets.tools.jarinfo import JarError, check_storlet_jar

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
pytestmark = pytest.mark.skipif(
    not shutil.which('javac'),
    reason='requires a JDK (javac): apt-get install default-jdk-headless')

SOURCES = {
    'p/Direct.java': '''
        package p;
        import java.util.*;
        import org.openstack.storlet.common.*;
        public class Direct implements IStorlet {
            public void invoke(ArrayList<StorletInputStream> i,
                               ArrayList<StorletOutputStream> o,
                               Map<String, String> p, StorletLogger l) {}
            public static class Nested extends Direct {}
        }''',
    'p/Helper.java': '''
        package p;
        public class Helper { static final long BIG = 1L << 40;
                              static final double PI = 3.14; }''',
}


@pytest.fixture(scope='module')
def api_jar(tmp_path_factory):
    out = tmp_path_factory.mktemp('api')
    subprocess.run([os.path.join(REPO, 'java', 'build.sh'), str(out),
                    '--runtime'], check=True)
    return str(out / 'storlets-api.jar')


def make_jar(tmp_path, api_jar, sources, name='s-1.0.jar', bundle=False):
    src = tmp_path / 'src'
    for rel, text in sources.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text))
    classes = tmp_path / 'classes'
    subprocess.run(['javac', '-nowarn', '--release', '11', '-cp', api_jar,
                    '-d', str(classes)]
                   + [str(src / rel) for rel in sources], check=True)
    if bundle:
        subprocess.run(['jar', '--extract', '--file', api_jar],
                       cwd=str(classes), check=True)
    jar = tmp_path / name
    subprocess.run(['jar', '--create', '--file', str(jar), '-C',
                    str(classes), '.'], check=True)
    return str(jar)


def test_main_is_checked_and_subclasses_count(tmp_path, api_jar):
    jar = make_jar(tmp_path, api_jar, SOURCES)
    assert check_storlet_jar(jar, 'p.Direct') == 'p.Direct'
    assert check_storlet_jar(jar, 'p.Direct$Nested') == 'p.Direct$Nested'
    with pytest.raises(JarError, match='class p.Helper does not implement'):
        check_storlet_jar(jar, 'p.Helper')
    with pytest.raises(JarError, match='class p.Nope is not in the jar'):
        check_storlet_jar(jar, 'p.Nope')
    # two storlet classes: deploy cannot choose
    with pytest.raises(JarError, match='found p.Direct, p.Direct\\$Nested'):
        check_storlet_jar(jar)


def test_the_only_storlet_class_is_found(tmp_path, api_jar):
    sources = dict(SOURCES)
    sources['p/Direct.java'] = sources['p/Direct.java'].replace(
        'public static class Nested extends Direct {}', '')
    jar = make_jar(tmp_path, api_jar, sources)
    assert check_storlet_jar(jar) == 'p.Direct'


def test_a_jar_bundling_the_api_is_refused(tmp_path, api_jar):
    jar = make_jar(tmp_path, api_jar, SOURCES, bundle=True)
    with pytest.raises(JarError, match='bundles the storlet API'):
        check_storlet_jar(jar, 'p.Direct')


def test_not_a_jar(tmp_path):
    path = tmp_path / 'x-1.0.jar'
    path.write_bytes(b'not a zip')
    with pytest.raises(JarError, match='not a readable jar'):
        check_storlet_jar(str(path))


def test_deploy_dry_run_finds_main(tmp_path, api_jar, capsys, monkeypatch):
    sources = dict(SOURCES)
    sources['p/Direct.java'] = sources['p/Direct.java'].replace(
        'public static class Nested extends Direct {}', '')
    jar = make_jar(tmp_path, api_jar, sources, name='direct-1.0.jar')
    monkeypatch.setattr(cli, 'connect', lambda args: None)
    monkeypatch.setattr(cli, 'containers', lambda conn: cli.DEFAULT_CONTAINERS)
    assert cli.main(['deploy', jar, '--dry-run']) == 0
    assert 'Language=Java Main=p.Direct' in capsys.readouterr().out
    assert cli.main(['deploy', jar, '--main', 'p.Helper', '--dry-run']) == 2
    assert 'direct-1.0.jar: class p.Helper does not implement' in \
        capsys.readouterr().err


FAILING = {
    'p/Failing.java': '''
        package p;
        import java.util.*;
        import org.openstack.storlet.common.*;
        public class Failing implements IStorlet {
            public void invoke(ArrayList<StorletInputStream> i,
                               ArrayList<StorletOutputStream> o,
                               Map<String, String> p, StorletLogger l)
                    throws StorletException {
                l.emitLog("giving up");
                if (p.containsKey("write-first")) {
                    try {
                        o.get(0).getStream().write(1);
                    } catch (java.io.IOException e) {
                        throw new StorletException(e.getMessage());
                    }
                }
                throw new StorletException("no " + p.get("what"));
            }
        }''',
}


def test_storlets_test_runs_a_jar_and_reports_failures(tmp_path, api_jar,
                                                       capfd):
    jar = make_jar(tmp_path, api_jar, FAILING, name='failing-1.0.jar')
    assert cli.main(['test', jar, '--param', 'what=luck']) == 2
    assert 'needs the API jar' in capfd.readouterr().err
    code = cli.main(['test', jar, '--api-jar', api_jar, '--param',
                     'what=luck', '--input', jar])
    err = capfd.readouterr().err
    assert code == 1
    assert 'giving up' in err
    assert 'storlet failed: StorletException: no luck' in err
    # the engine's rule: data before metadata is refused
    code = cli.main(['test', jar, '--api-jar', api_jar, '--param',
                     'write-first=1', '--input', jar])
    assert code == 1
    assert 'Set the output metadata before writing data' in \
        capfd.readouterr().err
