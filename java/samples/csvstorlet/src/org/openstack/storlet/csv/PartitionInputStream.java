package org.openstack.storlet.csv;

import java.io.IOException;
import java.io.InputStream;

/**
 * The records one partition of a record file owns, read from the
 * partition's window of the file: a stream of exactly the owned bytes.
 *
 * <p>A record is a run of bytes ending with {@code '\n'} (the file's last
 * record may lack it). Offsets are absolute offsets in the file. The
 * partition {@code [start, end]} (both inclusive, as in an HTTP range) owns
 * <ul>
 * <li>every record whose preceding {@code '\n'} lies in
 *     {@code [start, end]}, and</li>
 * <li>if it is the first partition, the record that begins at
 *     {@code start}.</li>
 * </ul>
 * The owned records are contiguous: they begin at {@code start} (first
 * partition) or just after the first {@code '\n'} at or after
 * {@code start}, and end with the first {@code '\n'} after {@code end}
 * (or at the end of the file). Partitions that tile the file,
 * {@code [0, e0], [e0 + 1, e1], ..., [e(k-1) + 1, ek]} with
 * {@code ek >= size - 1} and only the first marked first, therefore own
 * every record exactly once: each {@code '\n'} lies in exactly one of them.
 *
 * <p>The stream must start at offset {@code start}. An owned record begins
 * at most at {@code end + 1}, so if no record is longer than
 * {@code max_record_line} bytes (its {@code '\n'} included), the window
 * {@code [start, end + max_record_line]} holds all of them. Bytes after
 * the last owned record are not read beyond the current buffer.
 */
final class PartitionInputStream extends InputStream {
    private static final byte NEWLINE = '\n';

    private final InputStream in;
    private final long end;
    private long position;      // absolute offset of the next byte of in
    private boolean skipping;   // still inside an unowned first record
    private boolean done;
    private boolean exhausted;  // in reached its end
    private long emitted;
    private byte lastEmitted;

    PartitionInputStream(InputStream in, long start, long end,
                         boolean firstPartition) {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException(
                "Invalid partition [" + start + ", " + end + "]");
        }
        this.in = in;
        this.position = start;
        this.end = end;
        this.skipping = !firstPartition;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n;
        do {
            n = read(one, 0, 1);
        } while (n == 0);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (off < 0 || len < 0 || len > b.length - off) {
            throw new IndexOutOfBoundsException();
        }
        if (len == 0) {
            return 0;
        }
        while (!done) {
            int n = in.read(b, off, len);
            if (n < 0) {
                exhausted = true;
                done = true;
                break;
            }
            long base = position;   // absolute offset of b[off]
            position += n;
            int from = off;         // first owned byte of this read
            int limit = off + n;
            if (skipping) {
                int newline = indexOfNewline(b, off, limit);
                if (newline < 0) {
                    continue;
                }
                skipping = false;
                if (base + (newline - off) > end) {
                    done = true;    // no record starts in this partition
                    break;
                }
                from = newline + 1;
            }
            // the last owned record ends with the first '\n' after end
            long firstCandidate = Math.max(from - off, end + 1 - base);
            if (firstCandidate < n) {
                int newline = indexOfNewline(b, off + (int) firstCandidate,
                                             limit);
                if (newline >= 0) {
                    limit = newline + 1;
                    done = true;
                }
            }
            int count = limit - from;
            if (count > 0) {
                if (from != off) {
                    System.arraycopy(b, from, b, off, count);
                }
                emitted += count;
                lastEmitted = b[off + count - 1];
                return count;
            }
        }
        return -1;
    }

    private static int indexOfNewline(byte[] b, int from, int limit) {
        for (int i = from; i < limit; i++) {
            if (b[i] == NEWLINE) {
                return i;
            }
        }
        return -1;
    }

    /** Bytes handed out so far. */
    long emitted() {
        return emitted;
    }

    /**
     * Did the input end inside an owned record? Normal for a file whose
     * last line has no newline; otherwise the record was longer than the
     * window allowed (max_record_line too small).
     */
    boolean endedInsideRecord() {
        return exhausted && emitted > 0 && lastEmitted != NEWLINE;
    }

    /** Absolute offset just past the bytes read from the input so far. */
    long inputPosition() {
        return position;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
