package org.openstack.storlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletObjectOutputStream;

/**
 * An output for unit tests: captures the data and the metadata, and
 * enforces the engine's rules (metadata once, before any data).
 */
public class FakeStorletOutputStream extends StorletObjectOutputStream {
    private final Capture data;
    private Map<String, String> metadata;

    public FakeStorletOutputStream() {
        this(new Capture(), new Capture());
    }

    private FakeStorletOutputStream(Capture data, Capture metadataBytes) {
        super(data, new HashMap<String, String>(), metadataBytes);
        this.data = data;
    }

    @Override
    public synchronized void setMetadata(Map<String, String> md)
            throws StorletException {
        super.setMetadata(md);
        metadata = new HashMap<String, String>(md);
    }

    /** The metadata set by the storlet, or null if it set none. */
    public Map<String, String> getOutputMetadata() {
        return metadata;
    }

    /** Every byte written so far. */
    public byte[] getData() {
        return data.toByteArray();
    }

    /** The data as UTF-8 text. */
    public String getText() {
        return new String(getData(), StandardCharsets.UTF_8);
    }

    /** Was the data stream closed? */
    public boolean isClosed() {
        return data.closed;
    }

    /** A byte sink that remembers being closed and refuses writes after. */
    private static final class Capture extends OutputStream {
        private final ByteArrayOutputStream bytes =
            new ByteArrayOutputStream();
        private boolean closed;

        @Override
        public synchronized void write(int b) throws IOException {
            check();
            bytes.write(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len)
                throws IOException {
            check();
            bytes.write(b, off, len);
        }

        private void check() throws IOException {
            if (closed) {
                throw new IOException("Stream closed");
            }
        }

        @Override
        public synchronized void close() {
            closed = true;
        }

        synchronized byte[] toByteArray() {
            return bytes.toByteArray();
        }
    }
}
