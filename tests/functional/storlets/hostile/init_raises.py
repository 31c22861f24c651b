"""Raises in its constructor (which runs for every call)."""


class InitRaisesStorlet(object):
    def __init__(self, logger):
        raise RuntimeError('refusing to be constructed')

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        out_files[0].write(b'unreachable')
        out_files[0].close()
