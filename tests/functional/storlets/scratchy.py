"""Reports its scratch directory and what it finds, then leaves files.

Output (JSON): where it runs (cwd, TMPDIR, HOME, the parameter), what its
scratch directory and /tmp held on arrival, and the free space of /tmp.
Then it leaves files in its scratch directory (a tempfile, a tree it makes
unreadable, a symlink) and directly in /tmp. With ``mib``, it writes that
many MiB into its scratch directory (1 MiB files) before answering.
"""
import json
import os
import tempfile


class ScratchyStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        here = os.getcwd()
        fs = os.statvfs('/tmp')
        report = {
            'cwd': here, 'tmpdir': os.environ.get('TMPDIR'),
            'home': os.environ.get('HOME'),
            'param': params.get('storlet_scratch_dir'),
            'found_here': sorted(os.listdir(here)),
            'tmp': sorted(os.listdir('/tmp')),
            'tmp_free': fs.f_bavail * fs.f_frsize,
        }
        with open('left-in-cwd', 'w') as f:
            f.write('x' * 100000)
        tempfile.mkstemp()
        os.makedirs('deep/er')
        os.chmod('deep', 0)
        os.symlink('/etc', 'to-etc')
        with open('/tmp/left-in-tmp-%d' % os.getpid(), 'w') as f:
            f.write('x' * 100000)
        for i in range(int(params.get('mib', '0'))):
            with open('big%d' % i, 'wb') as f:
                f.write(b'z' * (1024 * 1024))
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode('utf-8'))
        out_files[0].close()
