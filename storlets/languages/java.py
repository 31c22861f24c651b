"""Java storlets: a jar (``<name>-<version>.jar``) whose ``Main`` is a class
implementing ``IStorlet``, found in the jar's manifest or classes
(``storlets.tools.jarinfo``), run by the image's JVM."""
import os
import shutil
import subprocess
import sys

from storlets.languages.base import Language, LanguageError
from storlets.tools.jarinfo import JarError, check_storlet_jar

#: The API jar's local runner (``LocalRun.java``): the engine's own stream
#: classes, files in, a file or stdout out.
LOCAL_RUN_CLASS = 'org.openstack.storlet.testing.LocalRun'


class Java(Language):
    name = 'java'
    title = 'Java'
    suffix = '.jar'

    def validate(self, name, params):
        if '-' not in name or '.' not in name:
            raise LanguageError('Storlet name is incorrect')

    def find_main(self, path, main=None):
        try:
            return check_storlet_jar(path, main or None)
        except JarError as err:
            raise LanguageError('%s: %s' % (os.path.basename(path), err))

    def run_locally(self, path, main, inputs, params, output, api_jar=None):
        api_jar = api_jar or os.environ.get('STORLETS_API_JAR')
        if not api_jar or not os.path.isfile(api_jar):
            raise LanguageError(
                'a Java storlet needs the API jar: give --api-jar or set '
                'STORLETS_API_JAR (java/build.sh DIR --runtime builds '
                'DIR/storlets-api.jar)')
        java = shutil.which('java')
        if java is None:
            raise LanguageError('java is not installed (apt-get install '
                                'default-jre-headless)')
        for file_path in [path] + list(inputs):
            if not os.path.isfile(file_path):
                raise LanguageError('%s: no such file' % file_path)
        main = self.find_main(path, main)
        # the storlet jar, then the jars next to it (its dependencies)
        folder = os.path.dirname(os.path.abspath(path))
        jars = [os.path.abspath(path)] + sorted(
            os.path.join(folder, f) for f in os.listdir(folder)
            if f.endswith(self.suffix) and f != os.path.basename(path))
        argv = [java, '-cp', os.pathsep.join([api_jar] + jars),
                LOCAL_RUN_CLASS, main, output or '-']
        for key, value in params.items():
            argv += ['--param', '%s=%s' % (key, value)]
        for input_path in inputs:
            argv += ['--input', input_path]
        sys.stdout.flush()
        if subprocess.run(argv).returncode != 0:
            raise LanguageError('the Java storlet failed (see above)',
                                usage=False)


JAVA = Java()
