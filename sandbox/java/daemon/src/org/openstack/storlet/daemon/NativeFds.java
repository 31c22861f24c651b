package org.openstack.storlet.daemon;

import java.io.FileDescriptor;
import java.io.IOException;

/** The JNI shim (libstorlets-jni.so, sandbox/java/jni/storlets_jni.c). */
final class NativeFds {
    static {
        System.loadLibrary("storlets-jni");
    }

    private NativeFds() {
    }

    /**
     * recvmsg(2) on {@code sock}: up to {@code len} bytes into
     * {@code buf[off..]}; received descriptors in {@code fds[1..]}, their
     * count in {@code fds[0]}. Returns the byte count, 0 at end of stream.
     */
    static native int recv(int sock, byte[] buf, int off, int len, int[] fds)
        throws IOException;

    /** A FileDescriptor for {@code fd}; whoever closes it closes fd. */
    static native FileDescriptor descriptor(int fd);

    /** close(2), for a descriptor no Java object owns yet. */
    static native void close(int fd);
}
