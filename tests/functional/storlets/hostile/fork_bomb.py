"""Fork bomb: every process forks for ever and never sends metadata.

Only the sandbox's pids limit bounds it; the gateway's timeout must end the
call and every process of it must be killed. Safety net: each process gives
up after ``seconds`` (default 120) on its own.
"""
import os
import time


class ForkBombStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        give_up = time.monotonic() + float(params.get('seconds', 120))
        while time.monotonic() < give_up:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)  # pids limit reached: try again
        os._exit(0)
