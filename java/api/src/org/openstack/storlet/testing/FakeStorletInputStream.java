package org.openstack.storlet.testing;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletInputStream;

/** An input for unit tests: bytes in memory plus metadata. */
public class FakeStorletInputStream extends StorletInputStream {
    private boolean closed;

    public FakeStorletInputStream(byte[] data, Map<String, String> md) {
        super(new ByteArrayInputStream(data),
              md == null ? new HashMap<String, String>()
                         : new HashMap<String, String>(md));
    }

    /** UTF-8 text as the input's bytes. */
    public FakeStorletInputStream(String text, Map<String, String> md) {
        this(text.getBytes(StandardCharsets.UTF_8), md);
    }

    @Override
    public void close() {
        closed = true;
        super.close();
    }

    public boolean isClosed() {
        return closed;
    }
}
