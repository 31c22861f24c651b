"""Counts its own runs in the sandbox's /dev/shm, per ``key`` parameter.

Not /tmp: what a call leaves there is removed when a call ends (see the
agent's scratch.py). /dev/shm is not swept (yet): if it ever is, these
counts need another home outside the sandbox.

``op=read``: output the count for ``key``. Otherwise: add one run, then copy
the input to the output (so a test can check it saw plaintext, whole data).
"""
import os


class CountRunsStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        path = '/dev/shm/runs-%s' % params['key']
        if params.get('op') == 'read':
            out_files[0].set_metadata({})
            count = os.path.getsize(path) if os.path.exists(path) else 0
            out_files[0].write(str(count).encode())
            out_files[0].close()
            return
        with open(path, 'ab') as f:
            f.write(b'x')
        out_files[0].set_metadata(in_files[0].get_metadata())
        while True:
            block = in_files[0].read(65536)
            if not block:
                break
            out_files[0].write(block)
        out_files[0].close()
