"""Sleeps for ever (an hour), ignoring SIGTERM, SIGINT and SIGHUP."""
import signal
import time


class SleepForeverStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        give_up = time.monotonic() + 3600
        while time.monotonic() < give_up:
            time.sleep(1)
        out_files[0].set_metadata({})
        out_files[0].close()
