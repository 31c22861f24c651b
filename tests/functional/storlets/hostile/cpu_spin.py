"""Spins on the CPU for ever: before its metadata (``when=before``, the
default) or after ``size`` bytes of output (``when=after``).

Safety net: gives up after ``seconds`` (default 300).
"""
import time


def spin(seconds):
    give_up = time.monotonic() + seconds
    n = 0
    while True:
        n += 1
        if n % 1000000 == 0 and time.monotonic() > give_up:
            return


class CpuSpinStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        seconds = float(params.get('seconds', 300))
        if params.get('when', 'before') == 'after':
            out_files[0].set_metadata({})
            out_files[0].write(b's' * int(params.get('size', 100000)))
        spin(seconds)
        if not out_files[0].metadata_sent:
            out_files[0].set_metadata({})
        out_files[0].write(b'spun out')
        out_files[0].close()
