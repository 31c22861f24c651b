"""Runs the dependency ``get42.sh`` from its own directory; reports the exit
code in metadata ``depend-ret-code`` and the dependency's output as body."""
import os
import subprocess


class ExecDepStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        path = os.path.join(params['storlet_execution_path'], 'get42.sh')
        proc = subprocess.run([path], capture_output=True)
        md = in_files[0].get_metadata()
        md['depend-ret-code'] = str(proc.returncode)
        out_files[0].set_metadata(md)
        out_files[0].write(proc.stdout)
        out_files[0].close()
