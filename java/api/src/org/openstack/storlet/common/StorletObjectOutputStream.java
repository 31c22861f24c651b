package org.openstack.storlet.common;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The output of a call: the object's (or response's) data, and its
 * metadata, which must be set exactly once, before any data is written.
 *
 * <p>{@link #setMetadata} sends the map as one JSON object on the metadata
 * channel and closes it; it does not change the caller's map. Writing data
 * first fails with an {@link IOException} instead of stalling the call, and
 * a second {@code setMetadata} throws {@link StorletException}.
 */
public class StorletObjectOutputStream extends StorletOutputStream {
    private final OutputStream metadataStream;
    private volatile boolean metadataSent;

    /** The engine's constructor: data and metadata descriptors. */
    public StorletObjectOutputStream(FileDescriptor dataFd,
                                     HashMap<String, String> md,
                                     FileDescriptor mdFd) {
        this(new FileOutputStream(dataFd), md, new FileOutputStream(mdFd));
    }

    /** Data and metadata to any streams (test doubles, wrappers). */
    public StorletObjectOutputStream(OutputStream data,
                                     HashMap<String, String> md,
                                     OutputStream metadataStream) {
        super((OutputStream) null, md);
        this.stream = new MetadataFirst(data);
        this.metadataStream = metadataStream;
    }

    /** Where the data goes (unbuffered). */
    @Override
    public OutputStream getStream() {
        return stream;
    }

    /** Raw access to the metadata channel. */
    public OutputStream getMDStream() {
        return metadataStream;
    }

    /** Has the metadata been set (or the channel used directly)? */
    public boolean isMetadataSet() {
        return metadataSent;
    }

    /**
     * Sends the output metadata: plain keys ({@code color}, not
     * {@code X-Object-Meta-color}); {@code Content-Type} sets the content
     * type. Keys and values must not be null.
     */
    public synchronized void setMetadata(Map<String, String> md)
            throws StorletException {
        if (metadataSent) {
            throw new StorletException(
                "Output metadata was already set: it can be set only once");
        }
        if (md == null) {
            throw new StorletException("Output metadata must not be null");
        }
        String json = toJson(md);
        metadataSent = true;
        try {
            metadataStream.write(json.getBytes(StandardCharsets.UTF_8));
            metadataStream.flush();
        } catch (IOException e) {
            throw new StorletException(
                "Cannot send output metadata: " + e.getMessage(), e);
        } finally {
            closeMD();
        }
    }

    /** Closes the metadata channel; errors are ignored. */
    public void closeMD() {
        metadataSent = true;
        try {
            metadataStream.close();
        } catch (IOException e) {
            // the reader is gone
        }
    }

    /** {@code md} as a JSON object of strings, keys sorted. */
    static String toJson(Map<String, String> md) throws StorletException {
        StringBuilder out = new StringBuilder("{");
        // a copy: iterating must not touch the caller's map
        for (Map.Entry<String, String> e
                 : new TreeMap<String, String>(nullChecked(md)).entrySet()) {
            if (out.length() > 1) {
                out.append(", ");
            }
            appendString(out, e.getKey());
            out.append(": ");
            appendString(out, e.getValue());
        }
        return out.append('}').toString();
    }

    private static Map<String, String> nullChecked(Map<String, String> md)
            throws StorletException {
        for (Map.Entry<String, String> e : md.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new StorletException(
                    "Output metadata keys and values must not be null ("
                    + e.getKey() + ")");
            }
        }
        return md;
    }

    private static void appendString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    /** The data stream: refuses bytes until the metadata is sent. */
    private final class MetadataFirst extends FilterOutputStream {
        MetadataFirst(OutputStream out) {
            super(out);
        }

        private void check(int length) throws IOException {
            if (length > 0 && !metadataSent) {
                throw new IOException(
                    "Set the output metadata before writing data");
            }
        }

        @Override
        public void write(int b) throws IOException {
            check(1);
            out.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            check(len);
            out.write(b, off, len);   // whole, not byte by byte
        }
    }
}
