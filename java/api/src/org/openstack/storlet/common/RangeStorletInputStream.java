package org.openstack.storlet.common;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.HashMap;

/**
 * An input limited to the bytes {@code [start, end)} of a file: what a
 * ranged run on an object server receives.
 *
 * <p>Reads are positional ({@code pread}), so the descriptor's own offset
 * does not matter. Unlike the upstream class, a read never asks for more
 * than the caller's buffer holds, and the remaining count is a
 * {@code long}, so ranges beyond 2 GiB work. {@code mark}/{@code reset} are
 * not supported.
 */
public class RangeStorletInputStream extends StorletInputStream {

    public RangeStorletInputStream(FileDescriptor fd,
                                   HashMap<String, String> md,
                                   long start, long end) throws IOException {
        this(new FileInputStream(fd).getChannel(), md, start, end);
    }

    /** A window of an open channel (tests use a file's channel). */
    public RangeStorletInputStream(FileChannel channel,
                                   HashMap<String, String> md,
                                   long start, long end) throws IOException {
        super(md);
        if (start < 0 || end < start) {
            throw new IOException("Invalid range [" + start + ", " + end
                                  + ")");
        }
        this.stream = new Window(channel, start, end);
    }

    /** The limited stream itself. */
    private static final class Window extends InputStream {
        private final FileChannel channel;
        private long position;
        private final long end;

        Window(FileChannel channel, long start, long end) {
            this.channel = channel;
            this.position = start;
            this.end = end;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n <= 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length)
                throws IOException {
            if (offset < 0 || length < 0 || length > buffer.length - offset) {
                throw new IndexOutOfBoundsException();
            }
            long remaining = end - position;
            if (remaining <= 0) {
                return -1;
            }
            if (length == 0) {
                return 0;
            }
            int wanted = (int) Math.min(length, remaining);
            int n = channel.read(ByteBuffer.wrap(buffer, offset, wanted),
                                 position);
            if (n < 0) {
                return -1;   // the file is shorter than the range
            }
            position += n;
            return n;
        }

        @Override
        public long skip(long count) {
            long skipped = Math.max(0, Math.min(count, end - position));
            position += skipped;
            return skipped;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE,
                                  Math.max(0, end - position));
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
