package org.openstack.storlet.testmetadatastorlet;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class MetadataStorletTest {

    /** Counts how many bytes were taken from it. */
    private static final class Counting extends InputStream {
        private final InputStream in;
        long taken;

        Counting(byte[] data) {
            in = new ByteArrayInputStream(data);
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                taken++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            taken += Math.max(n, 0);
            return n;
        }
    }

    public void testMetadataAndData() throws Exception {
        HashMap<String, String> md = new HashMap<String, String>();
        for (int i = 0; i < 10; i++) {
            md.put("Key" + i, "value" + i);
        }
        md.put("override_key", "old_value");
        Counting data = new Counting(new byte[10000]);
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new StorletInputStream(data, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new MetadataStorlet().invoke(in, outs, new HashMap<String, String>(),
                                     new FakeStorletLogger());
        Map<String, String> expected = new HashMap<String, String>(md);
        expected.put("override_key", "new_value");
        assertEquals(expected, out.getOutputMetadata());
        assertEquals("old_value", md.get("override_key"));   // input untouched
        assertEquals("1234567890", out.getText());
        assertTrue(data.taken > 0 && data.taken <= 100,
                   "read " + data.taken + " bytes");
        assertTrue(out.isClosed(), "output closed");
    }
}
