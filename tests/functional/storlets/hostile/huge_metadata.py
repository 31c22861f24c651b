"""Sends huge output metadata: ``keys`` entries (default 1) adding up to
``size`` bytes of values (default 10 MB), then a short body."""


class HugeMetadataStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        size = int(params.get('size', 10 * 1000 * 1000))
        keys = int(params.get('keys', 1))
        value = 'm' * (size // keys)
        out_files[0].set_metadata({'Huge-%05d' % i: value
                                   for i in range(keys)})
        out_files[0].write(b'after huge metadata')
        out_files[0].close()
