"""The gateway's side of a call: how an object's data file reaches the
sandbox (storlets/gateway/execution.py ``_pump`` and ``execute``).

The sandbox must get a pipe holding the requested window only, never the
data file: no xattrs, no path, no bytes outside the window.
"""
import os
import socket
import stat
import threading

import eventlet
import pytest
from hypothesis import given, settings, strategies as st

from storlets.errors import StorletRuntimeError
from storlets.gateway import execution
from storlets.gateway.invocation import Invocation, StorletInput, StorletRef
from storlets.sbus import channel

TIMEOUT = 5


def open_fds():
    """Our descriptors, but the hub's own (created on first use)."""
    fds = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue  # the listing's own descriptor
        if 'eventpoll' not in target:
            fds.add(fd)
    return fds


@pytest.fixture
def no_leak():
    before = open_fds()
    yield
    eventlet.sleep(0)
    assert open_fds() - before == set()


def data_file(tmp_path, data):
    path = tmp_path / 'data'
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


def pipe():
    r, w = execution._pipe()
    os.set_blocking(w, False)
    return r, w


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def pump_into_reader(tmp_path, data, start, end, reader=read_all):
    """Run _pump green, read the pipe from a real thread; both results."""
    src = data_file(tmp_path, data)
    r, w = pipe()
    got = {}

    def read():
        try:
            got['data'] = reader(r)
        finally:
            os.close(r)

    thread = threading.Thread(target=read)
    thread.start()
    error = eventlet.spawn(execution._pump, w, src, start, end,
                           TIMEOUT).wait()
    thread.join()
    return got.get('data'), error


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 3 * 1024 * 1024 + 17), data=st.data())
def test_pump_sends_exactly_the_window(tmp_path_factory, size, data):
    blob = os.urandom(size)
    start = data.draw(st.one_of(st.none(), st.integers(0, size)))
    end = data.draw(st.one_of(st.none(), st.integers(start or 0, size)))
    before = open_fds()
    got, error = pump_into_reader(tmp_path_factory.mktemp('p'), blob,
                                  start, end)
    assert error is None
    assert got == blob[start:end]
    assert open_fds() - before == set()


def test_pump_fails_when_the_file_is_shorter_than_the_window(tmp_path,
                                                             no_leak):
    got, error = pump_into_reader(tmp_path, b'x' * 100, 10, 200)
    assert got == b'x' * 90
    assert isinstance(error, EOFError)


def test_pump_reports_a_read_error_mid_file(tmp_path, no_leak):
    r, w = pipe()
    src = os.open(tmp_path, os.O_RDONLY)  # a directory: splice fails
    error = eventlet.spawn(execution._pump, w, src, 0, 10, TIMEOUT).wait()
    assert isinstance(error, OSError)
    assert os.read(r, 10) == b''
    os.close(r)


def test_pump_waits_for_a_slow_reader_without_blocking_others(tmp_path,
                                                              no_leak):
    blob = os.urandom(4 * 1024 * 1024)   # four pipe buffers
    ticks = []

    def ticker():
        for _ in range(20):
            ticks.append(1)
            eventlet.sleep(0.01)
    other = eventlet.spawn(ticker)

    def slow(fd):
        chunks = []
        while True:
            eventlet.sleep(0)  # nothing: a real thread, just be slow
            threading.Event().wait(0.02)
            chunk = os.read(fd, 256 * 1024)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    got, error = pump_into_reader(tmp_path, blob, None, None, slow)
    other.wait()
    assert error is None and got == blob
    assert len(ticks) == 20


def test_pump_ends_quietly_when_the_reader_closes_early(tmp_path, no_leak):
    got, error = pump_into_reader(tmp_path, os.urandom(8 * 1024 * 1024),
                                  None, None, lambda fd: os.read(fd, 10))
    assert error is None and len(got) == 10


def test_a_killed_pump_closes_its_descriptors(tmp_path, no_leak):
    src = data_file(tmp_path, os.urandom(4 * 1024 * 1024))
    r, w = pipe()
    feeder = eventlet.spawn(execution._pump, w, src, None, None, TIMEOUT)
    eventlet.sleep(0)    # started, now waits for room in the pipe
    feeder.kill()
    os.close(r)


class FakeDaemon(threading.Thread):
    """Answers one execute: reports what its input descriptor is."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.seen = {}

    def run(self):
        conn, _ = self.server.accept()
        conn.setblocking(False)
        with conn:
            message, fds = channel.recv_message(conn)
            in_fd, out_fd, md_fd = fds[:3]
            st_in = os.fstat(in_fd)
            self.seen = {'message': message,
                         'fifo': stat.S_ISFIFO(st_in.st_mode),
                         'link': os.readlink('/proc/self/fd/%d' % in_fd)}
            try:
                self.seen['xattrs'] = os.listxattr(in_fd)
            except OSError as err:
                self.seen['xattrs'] = err
            data = read_all(in_fd)
            os.write(md_fd, b'{}')
            os.close(md_fd)
            os.write(out_fd, data)
            os.close(out_fd)
            channel.send_message(conn, {'ok': True})
            channel.close_all(fds)


def test_execute_hands_the_sandbox_a_pipe_with_the_window_only(tmp_path,
                                                               no_leak):
    blob = os.urandom(300 * 1024)
    path = tmp_path / 'data'
    path.write_bytes(blob)
    try:
        os.setxattr(path, 'user.swift.metadata', b'secret')
    except OSError:
        pass  # tmpfs without user xattrs: the pipe check still holds
    daemon = FakeDaemon(str(tmp_path / 'd.sock'))
    daemon.start()
    invocation = Invocation(
        account='AUTH_a', storlet=StorletRef('s.py', 'python', 's.S'), params={},
        inputs=[StorletInput({'k': 'v'}, fd=os.open(path, os.O_RDONLY),
                             start=1000, end=200000)])
    result = execution.execute(str(tmp_path / 'd.sock'), invocation,
                               '/x', TIMEOUT)
    body = b''.join(result.body)
    result.body.close()
    daemon.join()
    daemon.server.close()
    assert body == blob[1000:200000]
    assert daemon.seen['fifo']
    assert daemon.seen['link'].startswith('pipe:')
    assert str(tmp_path) not in daemon.seen['link']
    assert daemon.seen['xattrs'] == []
    assert daemon.seen['message']['inputs'] == [{'metadata': {'k': 'v'}}]


def test_execute_fails_the_call_if_the_file_is_short(tmp_path, no_leak):
    path = tmp_path / 'data'
    path.write_bytes(b'y' * 1000)
    daemon = FakeDaemon(str(tmp_path / 'd.sock'))
    daemon.start()
    invocation = Invocation(
        account='AUTH_a', storlet=StorletRef('s.py', 'python', 's.S'), params={},
        inputs=[StorletInput({}, fd=os.open(path, os.O_RDONLY),
                             start=0, end=5000)])
    result = execution.execute(str(tmp_path / 'd.sock'), invocation,
                               '/x', TIMEOUT)
    with pytest.raises(StorletRuntimeError, match='input failed'):
        b''.join(result.body)
    result.body.close()
    daemon.join()
    daemon.server.close()
