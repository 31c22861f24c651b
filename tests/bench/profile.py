"""Where the CPU of a storlet call goes: 32 clients make 1 KiB storlet GETs
for SECONDS (default 20) against the all-in-one while py-spy samples the
proxy and node 1's object server; prints the hottest frames and, for our
own code, the share of busy samples (time waiting in the eventlet hub or in
idle tpool threads is left out).

    /opt/storlets/venv/bin/pip install py-spy      # not a dependency
    /opt/storlets/venv/bin/python -m tests.bench.profile [SECONDS]

py-spy's own overhead lowers the request rate; read the shares, not it.
"""
import collections
import os
import re
import subprocess
import sys
import threading
import time

import swiftclient

from tests.bench.bench import (
    AUTH, IDENTITY, STORLET, Client, storlet_headers)

PY_SPY = os.path.join(os.path.dirname(sys.executable), 'py-spy')
IDLE = ('Condition.wait', 'do_poll', 'Hub.wait')


def pid_of(pattern):
    """The oldest process whose command line has ``pattern``."""
    return subprocess.run(['pgrep', '-o', '-f', pattern], capture_output=True,
                          text=True, check=True).stdout.split()[0]


def prepare():
    """A warm identity storlet and a 1 KiB object; the client to use."""
    url, token = swiftclient.get_auth(AUTH, 'test:tester', 'testing')
    conn = swiftclient.Connection(AUTH, 'test:tester', 'testing')
    with open(IDENTITY, 'rb') as f:
        conn.put_object('storlet', 'bench_identity.py', f.read(),
                        headers=storlet_headers())
    conn.put_container('profile')
    conn.put_object('profile', 'o', os.urandom(1024))
    client = Client(url, token)
    for _ in range(20):
        assert client.request('GET', 'profile/o', STORLET)[1] == 200
    return client


def load(client, seconds, clients=32):
    """Storlet GETs from ``clients`` threads; returns how many succeeded."""
    stop = time.monotonic() + seconds
    count = [0]

    def loop():
        while time.monotonic() < stop:
            if client.request('GET', 'profile/o', STORLET)[1] == 200:
                count[0] += 1
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count[0]


def report(name, path):
    top, ours, busy = collections.Counter(), collections.Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(' ')
            frames = stack.split(';')
            if any(word in frames[-1] for word in IDLE):
                continue
            busy += int(n)
            top[frames[-1]] += int(n)
            for frame in {re.sub(r':\d+\)', ')', fr) for fr in frames}:
                if 'storlets/' in frame and 'storlets/venv' not in frame:
                    ours[frame] += int(n)
    print('\n== %s: %d busy samples\n-- hottest frames' % (name, busy))
    for frame, n in top.most_common(12):
        print('%5.1f%%  %s' % (100.0 * n / busy, frame[:140]))
    print('-- our code, inclusive')
    for frame, n in ours.most_common(30):
        print('%5.1f%%  %s' % (100.0 * n / busy, frame[:140]))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    seconds = int(argv[0]) if argv else 20
    client = prepare()
    targets = {'proxy': pid_of('proxy-server.conf'),
               'object': pid_of('node1/object-server.conf')}
    spies = {name: subprocess.Popen(
        [PY_SPY, 'record', '-p', pid, '-d', str(seconds), '-r', '200',
         '--subprocesses', '-f', 'raw', '-o', '/tmp/prof-%s.txt' % name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in targets.items()}
    done = load(client, seconds)
    for spy in spies.values():
        spy.wait()
    print('storlet GETs: %.0f/s' % (done / seconds))
    for name in targets:
        report(name, '/tmp/prof-%s.txt' % name)


if __name__ == '__main__':
    main()
