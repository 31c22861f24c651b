"""Fails before sending metadata (uses a name that does not exist)."""


class BrokenStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        self.logger.info('about to fail')
        raise RuntimeError('broken storlet fails on purpose')
