"""Python storlets: ``<module>.py`` whose ``Main`` is ``<module>.<Class>``,
run by the image's Python 3 (``Language-Version`` 3 or 3.N)."""
import ast
import importlib.util
import os
import re
import sys

from storlets.languages.base import Language, LanguageError

_VERSION = re.compile(r'^\d+(\.\d+)?$')


class Python(Language):
    name = 'python'
    title = 'Python'
    suffix = '.py'

    def validate(self, name, params):
        version = params.get('Language-Version')
        if version is not None:
            if not _VERSION.match(version):
                raise LanguageError('Language-Version is invalid')
            if version.split('.')[0] != '3':
                raise LanguageError('Not supported version specified')
        if not name.endswith(self.suffix):
            raise LanguageError('Storlet name is incorrect')
        stem = name[:-len(self.suffix)]
        main = params['Main']
        if main.split('.')[0] != stem:
            raise LanguageError(
                'Main class should be included in storlet file')
        if main.count('.') != 1 or not main.split('.')[1]:
            raise LanguageError('Submodule is currently not supported')

    def find_main(self, path, main=None):
        if main:
            return main
        with open(path, 'rb') as f:
            tree = ast.parse(f.read(), path)
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)
                   and any(isinstance(b, ast.FunctionDef)
                           and b.name == '__call__' for b in n.body)]
        if len(classes) != 1:
            raise LanguageError(
                '%s: cannot tell the storlet class (found %s); give --main '
                'module.Class' % (path, classes or 'none'))
        stem = os.path.basename(path)[:-len(self.suffix)]
        return '%s.%s' % (stem, classes[0])

    def run_locally(self, path, main, inputs, params, output, api_jar=None):
        from storlets.tools.testing import FakeInput, FakeLogger, FakeOutput
        main = self.find_main(path, main)
        stem = os.path.basename(path)[:-len(self.suffix)]
        spec = importlib.util.spec_from_file_location(stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        spec.loader.exec_module(module)
        cls = getattr(module, main.split('.', 1)[1])
        files = []
        for input_path in inputs:
            with open(input_path, 'rb') as f:
                files.append(FakeInput(f.read()))
        if not files:
            files.append(FakeInput(sys.stdin.buffer.read()))
        params = dict(params, storlet_execution_path=os.path.dirname(
            os.path.abspath(path)))
        out, logger = FakeOutput(), FakeLogger(main)
        try:
            cls(logger)(files, [out], params)
        except Exception as err:
            raise LanguageError('storlet failed: %s: %s'
                                % (type(err).__name__, err), usage=False)
        finally:
            for line in logger.lines:
                print(line, file=sys.stderr)
        if out.metadata is None:
            raise LanguageError('storlet returned without setting output '
                                'metadata', usage=False)
        print('metadata: %s' % out.metadata, file=sys.stderr)
        if output and output != '-':
            with open(output, 'wb') as f:
                f.write(out.data)
        else:
            sys.stdout.buffer.write(out.data)


PYTHON = Python()
