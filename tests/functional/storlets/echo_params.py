"""Writes one ``key=value`` line per parameter (sorted); no input needed."""


class EchoParamsStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        for key in sorted(params):
            out_files[0].write(('%s=%s\n' % (key, params[key])).encode())
        out_files[0].close()
