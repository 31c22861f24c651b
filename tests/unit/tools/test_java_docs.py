"""The Java storlet guide: its code compiles and its test passes, with the
guide's own commands."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from storlets.tools import cli

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
DOC = os.path.join(REPO, 'docs', 'writing-java-storlets.md')
pytestmark = pytest.mark.skipif(
    not (shutil.which('javac') and shutil.which('gcc')),
    reason='requires a JDK and gcc: apt-get install default-jdk-headless gcc')


def blocks(language):
    with open(DOC) as f:
        return re.findall(r'```%s\n(.*?)```' % language, f.read(), re.S)


@pytest.fixture(scope='module')
def built_guide(tmp_path_factory):
    """The guide's two classes, built and tested with its sh block."""
    home = tmp_path_factory.mktemp('home')
    work = tmp_path_factory.mktemp('work')
    storlet, unit_test = blocks('java')
    (work / 'UpperStorlet.java').write_text(storlet)
    (work / 'UpperStorletTest.java').write_text(unit_test)
    script = blocks('sh')[0].replace('/path/to/storlets', REPO)
    run = subprocess.run(['bash', '-e', '-c', script], cwd=str(work),
                         env=dict(os.environ, HOME=str(home)),
                         capture_output=True, text=True)
    return work, run


def test_the_guide_commands_build_and_test_the_storlet(built_guide):
    work, run = built_guide
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == 'UpperStorletTest passed'
    assert (work / 'upper-1.0.jar').is_file()


def test_deploy_finds_the_guide_storlet(built_guide, capsys, monkeypatch):
    work, _ = built_guide
    monkeypatch.setattr(cli, 'connect', lambda args: None)
    monkeypatch.setattr(cli, 'containers', lambda conn: cli.DEFAULT_CONTAINERS)
    assert cli.main(['deploy', str(work / 'upper-1.0.jar'),
                     '--dry-run']) == 0
    out = capsys.readouterr().out
    assert 'Main=org.example.upper.UpperStorlet' in out
    # the guide says so in its deploy block
    assert 'storlets deploy upper-1.0.jar' in blocks('sh')[2]
    assert 'org.example.upper.UpperStorlet' in blocks('sh')[2]


def test_the_guide_local_run(built_guide, tmp_path):
    work, _ = built_guide
    home = tmp_path / 'home'
    (home / 'storlets-java').mkdir(parents=True)
    subprocess.run([os.path.join(REPO, 'java', 'build.sh'),
                    str(home / 'storlets-java'), '--runtime'], check=True)
    bin_dir = os.path.dirname(sys.executable)   # where `storlets` is
    run = subprocess.run(
        ['bash', '-e', '-c', blocks('sh')[1]], cwd=str(work),
        env=dict(os.environ, HOME=str(home),
                 PATH=bin_dir + os.pathsep + os.environ['PATH']),
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == 'HELLO\nWORLD\n-- 12 bytes\n'
    assert 'upper-cased 12 bytes' in run.stderr
    assert 'metadata: {"transform": "upper"}' in run.stderr


README = os.path.join(REPO, 'README.md')
HARNESS = '''import java.util.*;
import org.openstack.storlet.common.*;
import org.openstack.storlet.testing.*;

public class ReadmeCheck {
    public static void main(String[] args) throws Exception {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Color", "red");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream("some bytes", md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs = new ArrayList<StorletOutputStream>();
        outs.add(out);
        new IdentityStorlet().invoke(in, outs, new HashMap<String, String>(),
                                     new FakeStorletLogger());
        System.out.println(out.getText() + "|" + out.getOutputMetadata()
                           + "|" + out.isClosed());
    }
}
'''


def test_the_readme_java_storlet_is_an_identity(tmp_path):
    with open(README) as f:
        [source] = re.findall(r'```java\n(.*?)```', f.read(), re.S)
    (tmp_path / 'IdentityStorlet.java').write_text(source)
    (tmp_path / 'ReadmeCheck.java').write_text(HARNESS)
    api = tmp_path / 'api'
    subprocess.run([os.path.join(REPO, 'java', 'build.sh'), str(api),
                    '--runtime'], check=True)
    cp = str(api / 'storlets-api.jar')
    subprocess.run(['javac', '--release', '11', '-cp', cp, '-d',
                    str(tmp_path / 'classes'),
                    str(tmp_path / 'IdentityStorlet.java'),
                    str(tmp_path / 'ReadmeCheck.java')], check=True)
    run = subprocess.run(['java', '-cp', cp + ':' + str(tmp_path / 'classes'),
                          'ReadmeCheck'], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == 'some bytes|{Color=red}|true'
