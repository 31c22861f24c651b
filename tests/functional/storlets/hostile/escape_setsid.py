"""Leaves a process behind, as a daemon does: a double-forked grandchild in
its own session (so not in the worker's process group), with every
descriptor but 0-2 closed, that sleeps ``seconds`` (default 300). The
storlet itself answers normally. The engine must not leave it running."""
import os
import time


class EscapeSetsidStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        seconds = float(params.get('seconds', 300))
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.closerange(3, 65536)
                    give_up = time.monotonic() + seconds
                    while time.monotonic() < give_up:
                        time.sleep(0.5)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        out_files[0].set_metadata({})
        out_files[0].write(b'left a process behind')
        out_files[0].close()
