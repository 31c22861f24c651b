"""Writes output for ever (1 MiB blocks), never reading its input.

Safety net: stops after ``max_gib`` GiB (default 64).
"""
BLOCK = 1024 * 1024


class FloodOutputStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        blocks = int(params.get('max_gib', 64)) * 1024
        block = b'F' * BLOCK
        out_files[0].set_metadata({})
        for _ in range(blocks):
            out_files[0].write(block)
        out_files[0].close()
