"""Tries to reach the all-in-one's services on 127.0.0.1 from inside the
sandbox and reports what it sees of the network, as JSON.

Only 127.0.0.1 is ever contacted (``ports`` parameter: comma separated).
"""
import json
import socket

DEFAULT_PORTS = '8080,8081,6210,6211,6212,6220,6230,11211'


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(('127.0.0.1', port))
        return 'connected'
    except Exception as err:
        return '%s: %s' % (type(err).__name__, err)
    finally:
        s.close()


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError as err:
        return ['error: %s' % err]


class NetprobeStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        ports = [int(p) for p in params.get('ports', DEFAULT_PORTS).split(',')]
        report = {
            'connect': {str(p): connect(p) for p in ports},
            'interfaces': [l.split(':')[0].strip()
                           for l in lines('/proc/net/dev')[2:]],
            'routes': lines('/proc/net/route')[1:],
            'tcp_listening': [l for l in lines('/proc/net/tcp')[1:]
                              + lines('/proc/net/tcp6')[1:]
                              if l.split()[3:4] == ['0A']],
            'unix_sockets': lines('/proc/net/unix')[1:],
        }
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode('utf-8'))
        out_files[0].close()
