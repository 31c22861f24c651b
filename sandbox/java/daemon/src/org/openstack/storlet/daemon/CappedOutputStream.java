package org.openstack.storlet.daemon;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A call's log: at most {@code limit} bytes reach the log file, then one
 * note that the rest was dropped (a storlet cannot fill the disk).
 */
final class CappedOutputStream extends OutputStream {
    private static final byte[] NOTE =
        "[storlets: log truncated]\n".getBytes(StandardCharsets.UTF_8);
    private final OutputStream out;
    private long room;
    private boolean noted;

    CappedOutputStream(OutputStream out, long limit) {
        this.out = out;
        this.room = limit;
    }

    @Override
    public synchronized void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len)
            throws IOException {
        int kept = (int) Math.min(len, room);
        if (kept > 0) {
            out.write(b, off, kept);
            room -= kept;
        }
        if (kept < len && !noted) {
            noted = true;
            out.write(NOTE);
        }
    }

    @Override
    public void flush() throws IOException {
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
