package org.openstack.storlet.daemon;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.Arrays;

/**
 * The socket to the daemon's Python front (descriptor 3 of the JVM).
 *
 * <p>A frame is a 4-byte big-endian length and that many bytes; the front
 * sends a call's descriptors with the first bytes of its frame. Only the
 * main thread reads; call threads send their replies under a lock.
 */
final class FrontChannel {
    /** Far above any parameters or metadata Swift lets through. */
    static final int MAX_FRAME = 64 << 20;
    private static final int MAX_FDS = 64;

    private final int fd;
    private final FileOutputStream out;

    /** One frame: its body and the descriptors that came with it. */
    static final class Frame {
        final byte[] body;
        final int[] fds;

        Frame(byte[] body, int[] fds) {
            this.body = body;
            this.fds = fds;
        }
    }

    FrontChannel(int fd) {
        this.fd = fd;
        this.out = new FileOutputStream(NativeFds.descriptor(fd));
    }

    /** The next frame, or null at end of stream between frames. */
    Frame read() throws IOException {
        int[] fds = new int[0];
        byte[] header = new byte[4];
        int got = 0;
        while (got < 4) {
            int[] received = new int[MAX_FDS + 1];
            int n = NativeFds.recv(fd, header, got, 4 - got, received);
            fds = append(fds, received);
            if (n == 0) {
                closeAll(fds);
                if (got == 0) {
                    return null;
                }
                throw new EOFException("front closed inside a frame header");
            }
            got += n;
        }
        int length = ((header[0] & 0xff) << 24) | ((header[1] & 0xff) << 16)
            | ((header[2] & 0xff) << 8) | (header[3] & 0xff);
        if (length < 0 || length > MAX_FRAME) {
            closeAll(fds);
            throw new IOException("bad frame length " + length);
        }
        byte[] body = new byte[length];
        got = 0;
        while (got < length) {
            int[] received = new int[MAX_FDS + 1];
            int n = NativeFds.recv(fd, body, got, length - got, received);
            fds = append(fds, received);
            if (n == 0) {
                closeAll(fds);
                throw new EOFException("front closed inside a frame");
            }
            got += n;
        }
        return new Frame(body, fds);
    }

    /** Sends one frame (whole, under the lock). */
    synchronized void send(byte[] body) throws IOException {
        ByteArrayOutputStream frame = new ByteArrayOutputStream(
            body.length + 4);
        new DataOutputStream(frame).writeInt(body.length);
        frame.write(body);
        out.write(frame.toByteArray());
    }

    static void closeAll(int[] fds) {
        for (int fd : fds) {
            NativeFds.close(fd);
        }
    }

    private static int[] append(int[] fds, int[] received) {
        int count = received[0];
        int[] all = Arrays.copyOf(fds, fds.length + count);
        System.arraycopy(received, 1, all, fds.length, count);
        return all;
    }
}
