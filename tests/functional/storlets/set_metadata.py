"""Hostile: sets exactly the output metadata given as JSON in the ``meta``
parameter (keys with CR/LF, ``:``, NUL, non-ASCII, reserved ``Storlet-*``
keys...), then copies the input.
"""
import json


class SetMetadataStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata(json.loads(params['meta']))
        out_files[0].write(in_files[0].read())
        out_files[0].close()
