"""Asks every descriptor it has (0..1023) what it is, and reports it as JSON.

For each open descriptor: ``fstat`` (type, size, inode, device),
``readlink /proc/self/fd/N``, ``flistxattr`` and ``fgetxattr`` of every name
listed plus Swift's own (``user.swift.metadata``), ``lseek`` (current and
end) and a ``pread`` at offset 0 (latin-1). Also ``get_metadata()`` of its
input, what ``/proc/self/mountinfo`` says and, at the end, the input it read.
Each probe's failure is reported as its error, never raised.
"""
import json
import os
import stat

SWIFT_XATTRS = ['user.swift.metadata', 'user.swift.metadata1',
                'user.swift.metadata_checksum']
PREAD = 4096


def attempt(fn, *args):
    try:
        value = fn(*args)
    except Exception as err:
        return {'error': '%s: %s' % (type(err).__name__, err)}
    if isinstance(value, bytes):
        value = value.decode('latin-1')
    return {'ok': value}


def describe(fd):
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    found = {'type': stat.S_IFMT(st.st_mode), 'size': st.st_size,
             'ino': st.st_ino, 'dev': st.st_dev,
             'regular': stat.S_ISREG(st.st_mode),
             'link': attempt(os.readlink, '/proc/self/fd/%d' % fd),
             'listxattr': attempt(os.listxattr, fd),
             'seek_cur': attempt(os.lseek, fd, 0, os.SEEK_CUR),
             'seek_end': attempt(os.lseek, fd, 0, os.SEEK_END),
             'pread': attempt(os.pread, fd, PREAD, 0)}
    names = list(SWIFT_XATTRS)
    if 'ok' in found['listxattr']:
        names += found['listxattr']['ok']
    found['getxattr'] = {name: attempt(os.getxattr, fd, name)
                         for name in names}
    found['getxattr'] = {name: value for name, value
                         in found['getxattr'].items() if 'ok' in value}
    return found


class FdProbeStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        fds = {}
        for fd in range(1024):
            found = describe(fd)
            if found is not None:
                fds[fd] = found
        report = {
            'fds': fds,
            'input_fd': in_files[0].fileno(),
            'metadata': in_files[0].get_metadata(),
            'mountinfo': attempt(
                lambda: open('/proc/self/mountinfo').read()),
            'cwd': attempt(os.getcwd),
            'input': in_files[0].read().decode('latin-1'),
        }
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode('utf-8'))
        out_files[0].close()
