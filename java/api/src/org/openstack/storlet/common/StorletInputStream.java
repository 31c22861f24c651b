package org.openstack.storlet.common;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;

/**
 * One input of a call: its data and the object's user metadata (keys
 * without the {@code X-Object-Meta-} prefix).
 */
public class StorletInputStream {
    protected InputStream stream;
    protected HashMap<String, String> metadata;

    /** The engine's constructor: data read from an open descriptor. */
    public StorletInputStream(FileDescriptor fd, HashMap<String, String> md) {
        this(new FileInputStream(fd), md);
    }

    /** Data from any stream (test doubles, wrappers). */
    public StorletInputStream(InputStream stream, HashMap<String, String> md) {
        this.stream = stream;
        this.metadata = md == null ? new HashMap<String, String>() : md;
    }

    /** For subclasses that set {@link #stream} themselves. */
    protected StorletInputStream(HashMap<String, String> md) {
        this((InputStream) null, md);
    }

    public InputStream getStream() {
        return stream;
    }

    /** The input's metadata: the live map, not a copy. */
    public HashMap<String, String> getMetadata() {
        return metadata;
    }

    /** Closes the data stream; errors are ignored. */
    public void close() {
        try {
            if (stream != null) {
                stream.close();
            }
        } catch (IOException e) {
            // nothing a storlet could do about it
        }
    }
}
