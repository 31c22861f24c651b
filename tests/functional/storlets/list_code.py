"""Lists the sandbox's code directory: {version directory: [files]}.

The spare sandbox tests use it to see which code a claimed sandbox holds.
"""
import json
import os

CODE_DIR = '/var/lib/storlets'


class ListCodeStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        found = {}
        for name in sorted(os.listdir(CODE_DIR)):
            path = os.path.join(CODE_DIR, name)
            found[name] = (sorted(os.listdir(path)) if os.path.isdir(path)
                           else None)
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(found).encode())
        out_files[0].close()
