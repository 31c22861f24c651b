"""The Python storlet guide's code runs as the guide says it does."""
import os
import re

from storlets.tools import cli

DOC = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'docs',
                   'writing-python-storlets.md')


def blocks(language):
    with open(DOC) as f:
        return re.findall(r'```%s\n(.*?)```' % language, f.read(), re.S)


def test_the_guide_storlet_and_its_unit_test_example(tmp_path):
    storlet, unit_test = blocks('python')
    namespace = {}
    exec(compile(storlet, 'upper.py', 'exec'), namespace)
    exec(compile(unit_test, 'guide-test', 'exec'), namespace)


def test_the_guide_local_run(tmp_path, capsys):
    (tmp_path / 'upper.py').write_text(blocks('python')[0])
    (tmp_path / 'in.txt').write_bytes(b'hello\nworld\n')
    code = cli.main(['test', str(tmp_path / 'upper.py'), '--input',
                     str(tmp_path / 'in.txt'), '--param', 'report=yes'])
    out = capsys.readouterr()
    assert code == 0
    assert out.out == 'HELLO\nWORLD\n-- 2 lines\n'
    assert 'upper.UpperStorlet INFO: upper-cased 2 lines' in out.err
    # the shell block shows exactly this command
    assert 'storlets test upper.py --input /tmp/in.txt --param report=yes' \
        in blocks('sh')[0]
