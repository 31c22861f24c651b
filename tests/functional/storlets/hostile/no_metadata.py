"""Returns without ever setting the output metadata (nor writing)."""


class NoMetadataStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        in_files[0].read(10)
