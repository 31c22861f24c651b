"""One storlet call over a daemon connection: descriptors in, output out.

``execute`` sends EXECUTE (see ``storlets.sbus``) with the invocation's
descriptors, waits (green, bounded by ``timeout``) for the output metadata
and the first output byte, and returns a ``StorletResult`` whose body is an
``OutputStream``. The stream reads the output pipe with non-blocking I/O, so a
slow storlet never blocks the server's other requests; after the last byte it
reads the daemon's verdict and raises if the storlet failed, so a failure
after the first byte aborts the response instead of ending it cleanly.

Every input reaches the sandbox as a pipe, never as a file: an iterator body
is written into it by ``_feed``, and an object's data file (an input with
``fd``, on an object server) is spliced into it by ``_pump``, only the
requested window ``[start, end)``. A descriptor of the data file itself would
tell the storlet more than the API does: Swift's on-disk metadata through
``fgetxattr`` (user metadata already removed by a POST, ``X-Delete-At``,
crypto values), the host path through ``/proc/self/fd``, the inode, and the
file's size and bytes outside an ``X-Storlet-Range``. A pipe tells nothing
but the bytes put into it. ``os.splice`` moves the bytes from the page cache
to the pipe inside the kernel, so this costs no copy in user space; both
feeders are green threads (non-blocking pipe, ``trampoline``). As with
Swift's own reads of the file, a read that misses the page cache blocks this
process while the disk answers.
"""
import fcntl
import json
import os

import eventlet
from eventlet.hubs import trampoline

from storlets import layout
from storlets.errors import StorletRuntimeError, StorletTimeout
from storlets.gateway.invocation import StorletResult
from storlets.sbus import channel
from storlets.sbus.protocol import ProtocolError

CHUNK_SIZE = 65536
#: Output metadata larger than this is refused (Swift's own limits are far
#: smaller; this only bounds memory).
MAX_METADATA_SIZE = 4 * 1024 * 1024
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1024 * 1024


def _pipe():
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: keep the default
    return r, w


def _timeout(what, seconds):
    return StorletTimeout('Storlet %s timed out after %ss' % (what, seconds))


def _read_some(fd, timeout, what):
    """Read up to CHUNK_SIZE bytes from a non-blocking fd, waiting greenly."""
    while True:
        try:
            return os.read(fd, CHUNK_SIZE)
        except BlockingIOError:
            trampoline(fd, read=True, timeout=timeout,
                       timeout_exc=_timeout(what, timeout))


def _fill_pipe(fd, fill, *closers):
    """Run ``fill()``, which writes one input into the non-blocking pipe
    ``fd`` (green); then close ``fd`` and call each of ``closers``.

    Returns None, or the exception that broke the input: an I/O error, a
    body or file shorter than announced, or a storlet that left its input
    unread for ``storlet_timeout`` while it still ran (closing the pipe
    then would show it a clean but early end of file). The call must then
    fail even though the storlet saw a clean end of file. A storlet that
    closed its input (``BrokenPipeError``) did not want the rest: no error.
    """
    try:
        fill()
    except BrokenPipeError:
        pass
    except Exception as err:
        return err
    finally:
        os.close(fd)
        for close in closers:
            close()


def _wait_writable(fd, timeout):
    trampoline(fd, write=True, timeout=timeout,
               timeout_exc=_timeout('input', timeout))


def _feed(fd, body, timeout):
    """Write an iterator into a pipe (see ``_fill_pipe``); close both."""
    def fill():
        for chunk in body:
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    _wait_writable(fd, timeout)
    return _fill_pipe(fd, fill, getattr(body, 'close', lambda: None))


def _pump(fd, src, start, end, timeout):
    """Splice bytes ``[start, end)`` of the file ``src`` into a pipe (see
    ``_fill_pipe``); close both. ``start`` None: from 0; ``end`` None: to
    the file's end."""
    def fill():
        offset, last = start or 0, end
        if last is None:
            last = os.fstat(src).st_size
        while offset < last:
            try:
                moved = os.splice(src, fd, min(last - offset, _PIPE_SIZE),
                                  offset_src=offset,
                                  flags=os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                _wait_writable(fd, timeout)
                continue
            if not moved:
                raise EOFError('object data ended at byte %d of %d'
                               % (offset, last))
            offset += moved
    return _fill_pipe(fd, fill, lambda: os.close(src))


def _verdict(conn, timeout):
    """The daemon's final message: None if the storlet succeeded."""
    try:
        reply, fds = channel.recv_message(
            conn, channel.deadline_after(timeout))
    except TimeoutError:
        raise _timeout('completion', timeout)
    except ProtocolError as err:
        return 'Storlet daemon connection failed: %s' % err
    channel.close_all(fds)
    if reply.get('ok'):
        return None
    return str(reply.get('error') or 'Storlet execution failed')


class OutputStream:
    """Iterator over the storlet's output; ``close()`` ends the call."""

    def __init__(self, conn, out_fd, log_file, feeders, timeout, first,
                 on_log=None):
        self._conn = conn
        self._fd = out_fd
        self._log = log_file
        self._feeders = feeders
        self._timeout = timeout
        self._pending = first
        self._on_log = on_log
        self._done = False
        self.bytes_out = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._pending is not None:
            data, self._pending = self._pending, None
        else:
            data = _read_some(self._fd, self._timeout, 'output')
        if data:
            self.bytes_out += len(data)
            return data
        self._done = True
        error = _verdict(self._conn, self._timeout)
        if error:
            raise StorletRuntimeError(error)
        for feeder in self._feeders:
            broken = feeder.wait()
            if broken is not None:
                raise StorletRuntimeError('Storlet input failed: %s' % broken)
        raise StopIteration

    def log_bytes(self):
        self._log.seek(0)
        return self._log.read(layout.MAX_LOG_SIZE)

    def close(self):
        if self._fd is None:
            return
        for feeder in self._feeders:
            feeder.kill()
        os.close(self._fd)
        self._fd = None
        # Closing the connection before the verdict tells the daemon to kill
        # the storlet's process group.
        self._conn.close()
        if self._on_log:
            self._on_log(self.log_bytes())
        self._log.close()


def execute(daemon_socket, invocation, execution_path, timeout):
    """Run ``invocation`` on the daemon at ``daemon_socket``.

    Raises ``OSError`` if nobody listens there (the caller starts the
    daemon and retries), ``StorletTimeout`` / ``StorletRuntimeError`` if the
    storlet fails before its first output byte.
    """
    deadline = channel.deadline_after(timeout)
    conn = channel.connect(daemon_socket, deadline)
    local, remote, feeders = [], [], []
    # an anonymous in-memory file: no filesystem work per call
    log_file = open(os.memfd_create('storlet-log', os.MFD_CLOEXEC), 'w+b')
    try:
        out_r, out_w = _pipe()
        md_r, md_w = _pipe()
        local += [out_r, md_r]
        remote += [out_w, md_w]
        input_fds, described, bodies = [], [], []
        for inp in invocation.inputs:
            fd, w = _pipe()
            remote.append(fd)
            local.append(w)
            os.set_blocking(w, False)
            if inp.fd is not None:
                # The data file stays here: the pipe gets its window only.
                src, inp.fd = inp.fd, None   # ours now
                local.append(src)
                bodies.append((w, (_pump, src, inp.start, inp.end)))
            else:
                bodies.append((w, (_feed, inp.body)))
            input_fds.append(fd)
            described.append({'metadata': inp.metadata})
        params = dict(invocation.params)
        params['storlet_execution_path'] = execution_path
        fds = [input_fds[0], out_w, md_w, log_file.fileno()] + input_fds[1:]
        roles = ['input', 'output', 'metadata', 'log'] + \
            ['input'] * (len(input_fds) - 1)
        channel.send_message(conn, {
            'cmd': 'execute', 'params': params, 'inputs': described,
            'fds': roles}, fds, deadline)
        channel.close_all(remote)
        remote = []
        for w, (feed, *source) in bodies:
            local.remove(w)
            if feed is _pump:
                local.remove(source[0])
            feeders.append(eventlet.spawn(feed, w, *source, timeout))
        # Let them start: a green thread killed before it ran would never
        # close the descriptors it owns.
        eventlet.sleep(0)
        os.set_blocking(md_r, False)
        os.set_blocking(out_r, False)
        metadata = _read_metadata(conn, md_r, timeout)
        first = _read_some(out_r, timeout, 'first output byte')
    except BaseException:
        channel.close_all(remote + local)
        for feeder in feeders:
            feeder.kill()
        conn.close()
        if invocation.on_log:
            log_file.seek(0)
            invocation.on_log(log_file.read(layout.MAX_LOG_SIZE))
        log_file.close()
        raise
    os.close(md_r)
    stream = OutputStream(conn, out_r, log_file, feeders, timeout, first,
                          invocation.on_log)
    return StorletResult(metadata, stream)


def _read_metadata(conn, md_fd, timeout):
    chunks, size = [], 0
    while True:
        data = _read_some(md_fd, timeout, 'metadata')
        if not data:
            break
        size += len(data)
        if size > MAX_METADATA_SIZE:
            raise StorletRuntimeError('Storlet metadata is too large')
        chunks.append(data)
    if not chunks:
        error = _verdict(conn, timeout)
        raise StorletRuntimeError(
            error or 'Storlet ended without sending metadata')
    try:
        metadata = json.loads(b''.join(chunks).decode('utf-8'))
    except ValueError:
        raise StorletRuntimeError('Storlet sent invalid metadata')
    if not isinstance(metadata, dict):
        raise StorletRuntimeError('Storlet metadata is not a JSON object')
    return {str(k): str(v) for k, v in metadata.items()}
