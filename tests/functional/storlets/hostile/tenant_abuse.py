"""One storlet, many abuses, chosen by the ``mode`` parameter; used by
tests/functional/test_tenant_isolation_load.py as the attacking tenant.

Every mode reads all its inputs (the object and any extra resources) and,
unless it failed first, writes the object back unchanged:

* ``identity`` (the default): nothing else.
* ``meta``: output metadata from parameters, the bad kind included:
  ``key`` and ``value`` as given, or generated ``key_len`` / ``value_len``
  characters long, ``crlf=1`` appending a CR LF and a header to the value;
  ``count`` such keys (``key``, ``key-1``, ...).
* ``sleep``: sleeps ``seconds``.
* ``burn``: spins on the CPU for ``seconds``.
* ``tmp``: writes ``mib`` MiB to a new file in /tmp (and leaves it there).
* ``alloc``: allocates and touches ``mib`` MiB, holding it ``seconds``.

Every duration is capped at 60 s and every size at 1024 MiB, so a broken
sandbox limit fails the test instead of eating the host.
"""
import os
import tempfile
import time

MAX_SECONDS = 60.0
MAX_MIB = 1024
MIB = 1024 * 1024


def _seconds(params):
    return min(float(params.get('seconds', 1)), MAX_SECONDS)


def _mib(params):
    return min(int(params.get('mib', 1)), MAX_MIB)


def _metadata(params):
    key = params.get('key') or 'k' * int(params.get('key_len', 1))
    value = params.get('value')
    if value is None:
        value = 'v' * int(params.get('value_len', 1))
    if params.get('crlf'):
        value += '\r\nX-Delete-At: 1'
    count = int(params.get('count', 1))
    md = {key: value}
    for i in range(1, count):
        md['%s-%d' % (key, i)] = value
    return md


def _burn(seconds):
    give_up = time.monotonic() + seconds
    n = 0
    while True:
        n += 1
        if n % 100000 == 0 and time.monotonic() > give_up:
            return


def _fill_tmp(mib):
    fd, _path = tempfile.mkstemp(dir='/tmp', prefix='tenant-abuse-')
    with os.fdopen(fd, 'wb') as f:
        block = b'\xa5' * MIB
        for _ in range(mib):
            f.write(block)


def _hold(mib, seconds):
    hoard = [b'\x5a' * MIB for _ in range(mib)]   # bytes: pages written
    time.sleep(seconds)
    return len(hoard)


class TenantAbuseStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        data = in_files[0].read()
        for extra in in_files[1:]:
            while extra.read(65536):
                pass
        mode = params.get('mode', 'identity')
        md = {}
        if mode == 'meta':
            md = _metadata(params)
        elif mode == 'sleep':
            time.sleep(_seconds(params))
        elif mode == 'burn':
            _burn(_seconds(params))
        elif mode == 'tmp':
            _fill_tmp(_mib(params))
        elif mode == 'alloc':
            _hold(_mib(params), _seconds(params))
        elif mode != 'identity':
            raise ValueError('unknown mode %r' % mode)
        out_files[0].set_metadata(md)
        out_files[0].write(data)
        out_files[0].close()
