package org.openstack.storlet.daemon;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;

/**
 * {@code System.out} and {@code System.err} of the JVM: what a storlet
 * prints goes to the log of the call that printed it (as for Python
 * storlets), found through the thread (threads a storlet starts inherit
 * it); prints outside any call go to the JVM's own stream, i.e. the
 * sandbox's log.
 */
final class CallOutput extends OutputStream {
    private static final InheritableThreadLocal<OutputStream> CURRENT =
        new InheritableThreadLocal<OutputStream>();
    private final OutputStream fallback;

    private CallOutput(OutputStream fallback) {
        this.fallback = fallback;
    }

    /** Routes System.out and System.err through call logs from now on. */
    static void install() {
        System.setOut(new PrintStream(new CallOutput(System.out), true));
        System.setErr(new PrintStream(new CallOutput(System.err), true));
    }

    /** This thread's prints go to {@code log} (null: back to the JVM's). */
    static void route(OutputStream log) {
        if (log == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(log);
        }
    }

    private OutputStream target() {
        OutputStream log = CURRENT.get();
        return log == null ? fallback : log;
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
        try {
            target().write(b, off, len);
        } catch (IOException e) {
            // the call is over (its log closed): the line is dropped
        }
    }

    @Override
    public void flush() {
        try {
            target().flush();
        } catch (IOException e) {
            // as above
        }
    }
}
