"""Sleeps ``seconds`` (default an hour) before producing anything."""
import time


class SlowStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        time.sleep(float(params.get('seconds', 3600)))
        out_files[0].set_metadata({})
        out_files[0].write(b'finally')
        out_files[0].close()
