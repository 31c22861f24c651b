"""Runs a recognisable child process (``marker`` in its command line) for
``seconds`` (default 8) while the call lasts, then answers ``done``."""
import subprocess
import sys
import time


class MarkerProcessStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        seconds = float(params.get('seconds', 8))
        child = subprocess.Popen(
            [sys.executable, '-c', 'import sys, time; '
             'time.sleep(float(sys.argv[1]))', str(seconds + 5),
             params['marker']])
        out_files[0].set_metadata({})
        out_files[0].write(b'started\n')
        time.sleep(seconds)
        child.kill()
        child.wait()
        out_files[0].write(b'done\n')
        out_files[0].close()
