"""A per-account sandbox image: the all-in-one gives AUTH_test4 an operator
image built with ``build-image.sh --packages jq`` ([account:AUTH_test4]
sandbox_image in the gateway config); other accounts keep the default."""
import uuid

import pytest

from tests.functional import leaks
from tests.functional.conftest import connection, deploy

PROBE = b'''
import subprocess


class JqProbe(object):
    def __init__(self, logger):
        pass

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        try:
            run = subprocess.run(['/usr/bin/jq', '--version'],
                                 capture_output=True)
            out_files[0].write(run.stdout)
        except OSError:
            out_files[0].write(b'no jq')
        out_files[0].close()
'''


@pytest.mark.parametrize('user, account, expected', [
    ('tester4', 'AUTH_test4', b'jq-'),
    ('tester', 'AUTH_test', b'no jq'),
])
def test_an_account_runs_in_its_own_image(user, account, expected):
    conn = connection(user)
    container = 'imagetest-' + uuid.uuid4().hex[:8]
    name = deploy(conn, 'jq_probe.py', 'jq_probe.JqProbe', source=PROBE)
    conn.put_container(container)
    try:
        conn.put_object(container, 'o', b'')
        _, body = conn.get_object(container, 'o',
                                  headers={'X-Run-Storlet': name})
        assert body.startswith(expected)
        running = leaks.sandboxes(account)
        assert running, 'no sandbox of %s on any node' % account
        assert {c.attrs['Config']['Image'] for c in running.values()} == \
            {leaks.sandbox_image(account)}
    finally:
        conn.delete_object(container, 'o')
        conn.delete_container(container)
        conn.delete_object('storlet', name)


def test_the_operator_guide_image_command_prints_that_image():
    """docs/operator-guide.md: ``storlets image build --java --packages jq
    --account ...`` gives the tag the all-in-one configured (the images are
    content-addressed, so this only reuses them)."""
    import os
    import subprocess
    guide = os.path.join(os.path.dirname(__file__), '..', '..', 'docs',
                         'operator-guide.md')
    with open(guide) as f:
        assert 'storlets image build --java --packages jq --account ' \
            'AUTH_bigdata' in f.read()
    run = subprocess.run(['storlets', 'image', 'build', '--java',
                          '--packages', 'jq', '--account', 'AUTH_bigdata'],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    tag = leaks.sandbox_image('AUTH_test4')
    assert run.stdout.splitlines()[0] == tag
    assert '[account:AUTH_bigdata]\nsandbox_image = %s' % tag in run.stdout
