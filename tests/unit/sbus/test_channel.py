"""SBus framing and fd passing over real AF_UNIX sockets."""
import os
import socket
import threading

import pytest

from storlets.sbus import channel, protocol


def test_encode_decode_round_trip():
    frame = protocol.encode({'cmd': 'ping', 'x': 'ü'})
    length = protocol.decode_length(frame[:4])
    assert protocol.decode_body(frame[4:4 + length]) == {'cmd': 'ping',
                                                          'x': 'ü'}


@pytest.mark.parametrize('body', [b'not json', b'[1,2]', b'\xff\xfe'])
def test_bad_bodies_are_protocol_errors(body):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_body(body)


def test_fd_count_must_match_roles():
    body = protocol.encode({'cmd': 'x', 'fds': ['input']})[4:]
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_body(body, fd_count=0)


def test_oversized_frame_is_refused():
    header = protocol.HEADER.pack(protocol.MAX_MESSAGE_SIZE + 1)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_length(header)


def _pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_large_message_with_fds_round_trip():
    a, b = _pair()
    r, w = os.pipe()
    message = {'cmd': 'execute', 'fds': ['input', 'output'],
               'params': {str(i): 'v' * 1024 for i in range(1000)}}
    sender = threading.Thread(target=channel.send_message,
                              args=(a, message, [r, w]))
    sender.start()
    got, fds = channel.recv_message(b, channel.deadline_after(5))
    sender.join()
    assert got == message
    assert len(fds) == 2
    os.write(fds[1], b'through the passed fd')
    assert os.read(r, 100) == b'through the passed fd'
    channel.close_all(fds + [r, w])
    a.close()
    b.close()


def test_recv_times_out_and_closed_peer_is_reported():
    a, b = _pair()
    with pytest.raises(TimeoutError):
        channel.recv_message(b, channel.deadline_after(0.05))
    a.close()
    with pytest.raises(protocol.ChannelClosed):
        channel.recv_message(b, channel.deadline_after(1))
    b.close()


def test_connect_to_nothing_is_oserror(tmp_path):
    with pytest.raises(OSError):
        channel.connect(str(tmp_path / 'nobody.sock'))
