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

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
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


def pid_of(pattern):
    out = subprocess.run(['pgrep', '-o', '-f', pattern], capture_output=True,
                         text=True).stdout.split()
    return out[0]


targets = {'proxy': pid_of('proxy-server.conf'),
           'object': pid_of('node1/object-server.conf')}
spies = {name: subprocess.Popen(
    [PY_SPY, 'record', '-p', pid, '-d', str(SECONDS),
     '-r', '200', '--subprocesses', '-f', 'raw', '-o',
     '/tmp/prof-%s.txt' % name], stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL) for name, pid in targets.items()}
stop = time.monotonic() + SECONDS
count = [0]


def loop():
    while time.monotonic() < stop:
        if client.request('GET', 'profile/o', STORLET)[1] == 200:
            count[0] += 1


threads = [threading.Thread(target=loop) for _ in range(32)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for spy in spies.values():
    spy.wait()
print('storlet GETs: %.0f/s' % (count[0] / SECONDS))
for name in targets:
    top, ours, busy = collections.Counter(), collections.Counter(), 0
    with open('/tmp/prof-%s.txt' % name) as f:
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
