package org.openstack.storlet.common;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.HashMap;

/** An output of a call: a data stream, plus the metadata it was made with. */
public class StorletOutputStream {
    protected OutputStream stream;
    protected HashMap<String, String> metadata;

    /** The engine's constructor: data written to an open descriptor. */
    public StorletOutputStream(FileDescriptor fd, HashMap<String, String> md) {
        this(new FileOutputStream(fd), md);
    }

    /** Data to any stream (test doubles, wrappers). */
    public StorletOutputStream(OutputStream stream,
                               HashMap<String, String> md) {
        this.stream = stream;
        this.metadata = md == null ? new HashMap<String, String>() : md;
    }

    public OutputStream getStream() {
        return stream;
    }

    /** The metadata given at construction (empty for a call's output). */
    public HashMap<String, String> getMetadata() {
        return metadata;
    }

    /** Closes the data stream; errors are ignored. */
    public void close() {
        try {
            stream.close();
        } catch (IOException e) {
            // the reader is gone: nothing left to tell it
        }
    }
}
