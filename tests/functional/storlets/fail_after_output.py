"""Writes ``size`` bytes of output (default 15000), then fails: the
response must be aborted, never a clean 200."""


class FailAfterOutputStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        out_files[0].write(b'x' * int(params.get('size', 15000)))
        raise RuntimeError('failing after output')
