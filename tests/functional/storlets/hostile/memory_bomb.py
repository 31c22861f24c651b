"""Allocates (and touches) memory until it is killed.

Safety net: stops at ``cap_mib`` (default 4096 MiB) and then reports how
much it got, so a sandbox without a memory limit fails the test instead of
eating the host.
"""
CHUNK = 16 * 1024 * 1024


class MemoryBombStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        cap = int(params.get('cap_mib', 4096)) * 1024 * 1024
        hoard = []
        while len(hoard) * CHUNK < cap:
            hoard.append(b'\x5a' * CHUNK)  # bytes: every page is written
        out_files[0].set_metadata({'survived-mib': str(cap // 2 ** 20)})
        out_files[0].write(b'survived %d MiB' % (cap // 2 ** 20))
        out_files[0].close()
