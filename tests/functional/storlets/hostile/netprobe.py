"""Tries to reach the all-in-one's services from inside the sandbox and
reports what it sees of the network, as JSON.

Only loopback addresses are ever contacted: the proxies and memcached on
127.0.0.1, storage node N's servers on 127.0.0.(N+1) (``targets``
parameter: comma separated ``address:port``).
"""
import json
import socket

DEFAULT_TARGETS = ','.join(
    ['127.0.0.1:%d' % p for p in (8080, 8081, 8085, 5000, 11211)] +
    ['127.0.0.%d:62%d%d' % (n + 1, n, k) for n in (1, 2, 3) for k in (0, 1, 2)])


def connect(target):
    address, _, port = target.rpartition(':')
    if not address.startswith('127.'):
        return 'not tried: only loopback addresses'
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((address, int(port)))
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
        targets = params.get('targets', DEFAULT_TARGETS).split(',')
        report = {
            'connect': {t: connect(t) for t in targets},
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
