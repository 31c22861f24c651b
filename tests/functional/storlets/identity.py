"""Identity storlet: output = input, metadata = input metadata.

Reads and writes in 64 KiB blocks, so it measures the engine, not itself.
"""
BLOCK = 65536


class IdentityStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        src, dst = in_files[0], out_files[0]
        dst.set_metadata(src.get_metadata())
        while True:
            block = src.read(BLOCK)
            if not block:
                break
            dst.write(block)
        self.logger.debug('identity done')
        src.close()
        dst.close()
