"""Writes ``count`` (default 600) blocks of 64 KiB, one every ``interval``
seconds (default 0.05): a long, steady output for fault tests."""
import time


class TrickleStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        block = b't' * 65536
        for _ in range(int(params.get('count', 600))):
            out_files[0].write(block)
            time.sleep(float(params.get('interval', 0.05)))
        out_files[0].close()
