"""The storlets command without a cluster: local runs, validation, help."""
import os

import pytest

from storlets.tools import cli

STORLETS = os.path.join(os.path.dirname(__file__), '..', '..', 'functional',
                        'storlets')


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_local_test_runs_a_storlet_on_files(tmp_path, capsys):
    data = tmp_path / 'in.txt'
    data.write_bytes(b'abc\ndef\n')
    out = tmp_path / 'out.txt'
    code, _, err = run(['test', os.path.join(STORLETS, 'reverse_lines.py'),
                        '--input', str(data), '-o', str(out)], capsys)
    assert code == 0
    assert out.read_bytes() == b'cba\nfed\n'
    assert "'transformed': 'yes'" in err


def test_local_test_reports_a_failing_storlet(capsys):
    code, _, err = run(['test', os.path.join(STORLETS, 'broken.py'),
                        '--input', os.devnull], capsys)
    assert code == 1
    assert 'storlets: storlet failed: RuntimeError' in err
    assert 'INFO: about to fail' in err   # the storlet's log is shown


def test_local_test_passes_parameters(tmp_path, capsys):
    code, out, _ = run(['test', os.path.join(STORLETS, 'echo_params.py'),
                        '--input', os.devnull, '--param', 'a=b:c'], capsys)
    assert code == 0
    assert 'a=b:c\n' in out


def test_deploy_validates_locally_before_any_request(tmp_path, capsys):
    bad = tmp_path / 'bad.txt'
    bad.write_bytes(b'x')
    code, _, err = run(['--auth', 'http://127.0.0.1:1/auth', '--user', 'u',
                        '--key', 'k', 'deploy', str(bad), '--main', 'a.B'],
                       capsys)
    assert code == 2
    assert 'Storlet name is incorrect' in err


def test_missing_credentials_is_a_usage_error(monkeypatch, capsys):
    for var in ('ST_AUTH', 'ST_USER', 'ST_KEY'):
        monkeypatch.delenv(var, raising=False)
    code, _, err = cli.main(['list']), None, capsys.readouterr().err
    assert code == 2 and 'credentials missing' in err


@pytest.mark.parametrize('command', ['deploy', 'list', 'run', 'acl', 'logs',
                                     'enable', 'test', 'image'])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, '--help'])
    assert exit_.value.code == 0
    assert 'usage: storlets %s' % command in capsys.readouterr().out


def test_fakes_enforce_the_contract():
    from storlets.tools.testing import FakeOutput
    out = FakeOutput()
    with pytest.raises(IOError):
        out.write(b'data before metadata')
    out.set_metadata({'a': 1})
    with pytest.raises(IOError):
        out.set_metadata({})
    out.write(b'ok')
    assert out.data == b'ok' and out.metadata == {'a': '1'}
