package org.openstack.storlet.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.openstack.storlet.common.StorletLogger;

/** A logger for unit tests: keeps the lines in memory. */
public class FakeStorletLogger extends StorletLogger {
    private final ByteArrayOutputStream bytes;

    public FakeStorletLogger() {
        this(new ByteArrayOutputStream());
    }

    private FakeStorletLogger(ByteArrayOutputStream bytes) {
        super(bytes);
        this.bytes = bytes;
    }

    /** The lines logged so far. */
    public List<String> getLines() {
        String text;
        synchronized (this) {
            text = new String(bytes.toByteArray(), StandardCharsets.UTF_8);
        }
        if (text.isEmpty()) {
            return new ArrayList<String>();
        }
        return new ArrayList<String>(
            Arrays.asList(text.substring(0, text.length() - 1).split("\n", -1)));
    }
}
