"""Writes some output, then fails: the response must be aborted."""


class FailAfterOutputStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        out_files[0].write(b'partial output ' * 1000)
        raise RuntimeError('failing after output')
