"""The Java side, built once per test session, for the functional tests.

``java_build()`` returns a ``JavaBuild``: where ``storlets-api.jar``, the
sample jars and ``get42`` are. With ``STORLETS_JAVA_BUILD`` set (and not
empty) it is that directory, as ``devstack/aio.sh test`` builds it once
with ``java/build.sh``; otherwise this module runs ``java/build.sh`` itself
(samples only: the daemon and its JNI shim belong in the sandbox image) in
a temporary directory, once per process, removed at exit.

``compile_jar()`` compiles Java sources into a jar with the JDK alone
(``javac`` and ``jar``), as a storlet author outside this repository would.

When there is nothing to use (no ``STORLETS_JAVA_BUILD`` and no ``javac``),
``JavaUnavailable`` says so, and the tests that need it fail.
"""
import atexit
import glob
import os
import shutil
import subprocess
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(REPO_ROOT, 'java', 'build.sh')
ENV_VAR = 'STORLETS_JAVA_BUILD'
API_JAR = 'storlets-api.jar'
#: The release the samples are compiled for (as build.sh does).
RELEASE = '11'
BUILD_TIMEOUT = 600

_build = None


class JavaUnavailable(Exception):
    """No Java build given and no JDK to make one."""


class JavaBuild:
    """A ``java/build.sh`` output directory."""

    def __init__(self, root):
        self.root = root
        self.api_jar = os.path.join(root, API_JAR)
        self.samples_dir = os.path.join(root, 'samples')
        self.get42 = os.path.join(self.samples_dir, 'get42')
        missing = [path for path in (self.api_jar, self.get42)
                   if not os.path.isfile(path)]
        if missing:
            raise RuntimeError('incomplete Java build in %s: no %s'
                               % (root, ', '.join(missing)))

    def sample_jar(self, name):
        """Path of ``samples/<name>``, e.g. ``halfstorlet-1.0.jar``."""
        path = os.path.join(self.samples_dir, name)
        if not os.path.isfile(path):
            raise RuntimeError('no sample jar %s in %s' % (name, self.root))
        return path

    def sample_jars(self):
        """{jar name: path} of every sample jar."""
        return {os.path.basename(path): path for path in sorted(
            glob.glob(os.path.join(self.samples_dir, '*.jar')))}

    def __repr__(self):
        return 'JavaBuild(%r)' % self.root


def _run_build_script():
    if shutil.which('javac') is None or shutil.which('jar') is None:
        raise JavaUnavailable(
            'Java tests need %s (a java/build.sh output) or a JDK (javac, '
            'jar) to build one' % ENV_VAR)
    out = tempfile.mkdtemp(prefix='storlets-java-build-')
    atexit.register(shutil.rmtree, out, True)
    env = dict(os.environ, STORLETS_JAVA_SAMPLES_ONLY='1')
    proc = subprocess.run(['bash', BUILD_SCRIPT, out], env=env,
                          capture_output=True, timeout=BUILD_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError('java/build.sh %s failed (%d):\n%s' % (
            out, proc.returncode,
            (proc.stdout + proc.stderr).decode('utf-8', 'replace')[-4000:]))
    return out


def java_build():
    """The session's ``JavaBuild`` (built on first use if need be)."""
    global _build
    if _build is None:
        root = os.environ.get(ENV_VAR) or _run_build_script()
        _build = JavaBuild(root)
    return _build


def compile_jar(sources, jar_path, classpath=(), release=RELEASE):
    """Compile ``sources`` ({path relative to the source root, e.g.
    ``org/x/Y.java``: Java text}) with ``javac --release`` against
    ``classpath`` and pack the classes into ``jar_path`` with ``jar``.

    Returns ``jar_path``; raises ``RuntimeError`` with the compiler's
    output if a step fails.
    """
    work = tempfile.mkdtemp(prefix='storlets-javac-')
    try:
        src, classes = os.path.join(work, 'src'), os.path.join(work, 'classes')
        files = []
        for relpath, text in sorted(sources.items()):
            path = os.path.join(src, relpath)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
            files.append(path)
        os.makedirs(classes)
        steps = [
            ['javac', '--release', str(release), '-encoding', 'UTF-8',
             '-cp', os.pathsep.join(classpath), '-d', classes] + files,
            ['jar', '--create', '--file', jar_path, '-C', classes, '.'],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, timeout=300)
            if proc.returncode != 0:
                raise RuntimeError('%s failed (%d):\n%s' % (
                    cmd[0], proc.returncode, (proc.stdout + proc.stderr)
                    .decode('utf-8', 'replace')))
        return jar_path
    finally:
        shutil.rmtree(work, ignore_errors=True)
