"""Reports what the sandbox looks like from inside, as JSON.

Used by the security tests: capabilities, no_new_privs, seccomp, uid,
network interfaces, whether outbound connections and writes are possible.
"""
import json
import os
import socket


def _status():
    fields = {}
    with open('/proc/self/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            fields[key] = value.strip()
    return fields


def _try(fn):
    try:
        fn()
        return 'ok'
    except Exception as err:
        return '%s: %s' % (type(err).__name__, err)


def _connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
    finally:
        s.close()


def _write(path):
    with open(path, 'w') as f:
        f.write('x')
    os.unlink(path)


class InspectSandboxStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        status = _status()
        with open('/proc/net/dev') as f:
            ifaces = [line.split(':')[0].strip() for line in f.readlines()[2:]]
        report = {
            'CapEff': status.get('CapEff'),
            'CapPrm': status.get('CapPrm'),
            'NoNewPrivs': status.get('NoNewPrivs'),
            'Seccomp': status.get('Seccomp'),
            'uid': os.getuid(),
            'gid': os.getgid(),
            'interfaces': ifaces,
            'connect_proxy': _try(lambda: _connect('127.0.0.1', 8080)),
            'write_root': _try(lambda: _write('/storlet-probe')),
            'write_code_dir': _try(lambda: _write(
                os.path.join(params['storlet_execution_path'], 'probe'))),
            'write_tmp': _try(lambda: _write('/tmp/storlet-probe')),
            'docker_socket': os.path.exists('/var/run/docker.sock'),
            'execution_path': params['storlet_execution_path'],
            'code_dir_listing': sorted(os.listdir('/var/lib/storlets')),
        }
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode())
        out_files[0].close()
