"""Looks for anything outside its own sandbox and reports it as JSON.

* ``mountinfo``: /proc/self/mountinfo (it shows host paths: reported, not
  a leak of content by itself);
* ``probes``: listings/reads of host paths, directly, through /proc/<pid>/
  root and cwd, and through symlinks planted in /tmp;
* ``cgroup_writable``: cgroup files it could open for writing (release_agent
  and friends are the classic escapes);
* ``sockets``: connect attempts to Docker/containerd sockets, to the other
  account's run directory (``other_scope`` parameter) and, as a control,
  to its own factory socket;
* ``processes``: every process it can see (pid, uid, cmdline);
* ``files``: every regular file it can read outside /proc, /sys and /dev,
  with its size and the sha256 of its first MiB.
"""
import hashlib
import json
import os
import socket
import stat

HASHED = 1024 * 1024
HOST_PATHS = [
    '/etc/swift', '/etc/swift/swift.conf', '/etc/swift/proxy-server.conf',
    '/etc/swift/encryption-root-secret', '/srv', '/srv/storlets-aio',
    '/var/run/storlets-aio', '/var/lib/docker', '/var/lib/storlets/cache',
    '/var/lib/storlets/run', '/var/lib/storlets/usage', '/work',
    '/root', '/home', '/etc/shadow', '/var/run/docker.sock',
    '/run/docker.sock', '/run/containerd', '/var/run/docker',
]
SOCKETS = ['/var/run/docker.sock', '/run/docker.sock',
           '/run/containerd/containerd.sock',
           '/var/run/docker/containerd/containerd.sock']


def probe(path):
    """What reading ``path`` gives: a listing, a digest, or the error."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return {'dir': sorted(os.listdir(path))[:100]}
        if stat.S_ISSOCK(st.st_mode):
            return {'socket': True}
        with open(path, 'rb') as f:
            data = f.read(HASHED)
        return {'size': st.st_size, 'sha256': hashlib.sha256(data).hexdigest(),
                'head': data[:80].decode('latin-1')}
    except Exception as err:
        return {'error': '%s: %s' % (type(err).__name__, err)}


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return 'connected'
    except Exception as err:
        return '%s: %s' % (type(err).__name__, err)
    finally:
        s.close()


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read(65536).decode('utf-8', 'replace')
    except Exception as err:
        return '%s: %s' % (type(err).__name__, err)


def processes():
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        cmdline = read_text('/proc/%s/cmdline' % name).replace('\0', ' ')
        status = read_text('/proc/%s/status' % name)
        uid = [line.split()[1] for line in status.splitlines()
               if line.startswith('Uid:')]
        found.append({'pid': int(name), 'cmdline': cmdline.strip(),
                      'uid': uid[0] if uid else None})
    return found


def cgroup_writable():
    writable = []
    for root, dirs, names in os.walk('/sys/fs/cgroup'):
        for name in names:
            path = os.path.join(root, name)
            if name in ('release_agent', 'notify_on_release', 'tasks',
                        'cgroup.procs', 'memory.limit_in_bytes',
                        'pids.max', 'memory.max', 'cpu.max',
                        'cgroup.subtree_control'):
                try:
                    # opened for writing, nothing is written
                    with open(path, 'ab'):
                        writable.append(path)
                except OSError:
                    pass
    return writable


def walk_files():
    files = {}
    for top in sorted(os.listdir('/')):
        if top in ('proc', 'sys', 'dev'):
            continue
        for root, dirs, names in os.walk('/' + top):
            for name in names:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    with open(path, 'rb') as f:
                        data = f.read(HASHED)
                except OSError:
                    continue
                files[path] = [st.st_size, hashlib.sha256(data).hexdigest()]
    return files


class SnoopStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        other = params.get('other_scope', 'none')
        paths = list(HOST_PATHS)
        paths += ['/var/lib/storlets/cache/' + other,
                  '/var/lib/storlets/run/' + other]
        procs = processes()
        probes = {}
        for path in paths:
            probes[path] = probe(path)
        for proc in procs:
            for link in ('root', 'cwd'):
                base = '/proc/%d/%s' % (proc['pid'], link)
                probes[base] = probe(base)
                for path in paths[:8]:
                    probes[base + path] = probe(base + path)
        for name in ('1/environ', 'self/cgroup', 'self/mountinfo',
                     'sys/kernel/core_pattern'):
            probes['/proc/' + name] = probe('/proc/' + name)
        planted = {}
        for i, target in enumerate(
                paths + ['/proc/1/root/etc/swift/swift.conf',
                         '/var/lib/storlets/../../../etc/swift/swift.conf',
                         '/run/storlets/../../var/lib/storlets/run/' + other]):
            link = '/tmp/snoop-link-%d' % i
            try:
                os.symlink(target, link)
                planted[target] = probe(link)
            except OSError as err:
                planted[target] = {'error': 'symlink: %s' % err}
            finally:
                try:
                    os.unlink(link)
                except OSError:
                    pass
        sockets = {path: connect_unix(path) for path in SOCKETS + [
            '/run/storlets/factory.sock',   # its own: the control case
            '/var/lib/storlets/run/%s/factory.sock' % other,
            '/run/storlets/../%s/factory.sock' % other]}
        report = {
            'mountinfo': read_text('/proc/self/mountinfo').splitlines(),
            'probes': probes,
            'symlinks': planted,
            'cgroup_writable': cgroup_writable(),
            'sockets': sockets,
            'processes': procs,
            'own_run_dir': sorted(os.listdir('/run/storlets')),
            'code_dir': sorted(os.listdir('/var/lib/storlets')),
            'devices': sorted(os.listdir('/dev')),
            'files': walk_files(),
        }
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode('utf-8'))
        out_files[0].close()
