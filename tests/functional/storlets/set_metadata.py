"""Hostile: sets exactly the output metadata given as JSON in the ``meta``
parameter (keys with CR/LF, ``:``, NUL, non-ASCII, reserved ``Storlet-*``
keys...), then copies the input. Counts its runs like count_runs.py, per
``key`` parameter; ``op=read`` outputs the count instead.
"""
import json
import os


class SetMetadataStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        path = '/tmp/runs-%s' % params['key']
        if params.get('op') == 'read':
            out_files[0].set_metadata({})
            count = os.path.getsize(path) if os.path.exists(path) else 0
            out_files[0].write(str(count).encode())
            out_files[0].close()
            return
        with open(path, 'ab') as f:
            f.write(b'x')
        out_files[0].set_metadata(json.loads(params['meta']))
        out_files[0].write(in_files[0].read())
        out_files[0].close()
