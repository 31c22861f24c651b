"""Reports what survives between calls in its worker: for the reuse tests.

Each call outputs JSON: ``pid`` (the worker's process id in the sandbox)
and ``calls`` (a module-level counter: the calls this worker has served,
this one included). With ``fail=<key>``, it first writes its pid to
``/dev/shm/failed-<key>`` (which survives the worker) and then raises: the
call fails. With ``failed=<key>``, ``failed_pid`` in the output is that pid.
"""
import json
import os

CALLS = 0


class WorkerStateStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        global CALLS
        CALLS += 1
        if 'fail' in params:
            with open('/dev/shm/failed-%s' % params['fail'], 'w') as f:
                f.write(str(os.getpid()))
            raise RuntimeError('failing on purpose')
        report = {'pid': os.getpid(), 'calls': CALLS}
        if 'failed' in params:
            with open('/dev/shm/failed-%s' % params['failed']) as f:
                report['failed_pid'] = int(f.read())
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode())
        out_files[0].close()
