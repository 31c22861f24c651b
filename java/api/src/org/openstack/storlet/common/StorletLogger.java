package org.openstack.storlet.common;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The storlet's log: each {@link #emitLog} appends one line. The engine
 * uploads it to the log container when the request asks for it. Errors are
 * ignored: logging never fails a call.
 */
public class StorletLogger {
    private final OutputStream out;

    /** The engine's constructor: lines go to an open descriptor. */
    public StorletLogger(FileDescriptor fd) {
        this(new FileOutputStream(fd));
    }

    /** Lines go to any stream (test doubles, the engine's capped log). */
    public StorletLogger(OutputStream out) {
        this.out = out;
    }

    /** Appends {@code message} and a newline. */
    public synchronized void emitLog(String message) {
        try {
            out.write((message + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // see the class comment
        }
    }

    public synchronized void Flush() {
        try {
            out.flush();
        } catch (IOException e) {
            // see the class comment
        }
    }

    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            // see the class comment
        }
    }
}
