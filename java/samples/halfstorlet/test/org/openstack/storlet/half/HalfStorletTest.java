package org.openstack.storlet.half;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class HalfStorletTest {

    private static FakeStorletOutputStream run(byte[] data,
                                               Map<String, String> md)
            throws Exception {
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(data, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new HalfStorlet().invoke(in, outs, new HashMap<String, String>(),
                                 new FakeStorletLogger());
        return out;
    }

    private static byte[] evenBytes(byte[] data) {
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        for (int i = 0; i < data.length; i += 2) {
            expected.write(data[i]);
        }
        return expected.toByteArray();
    }

    /** Hands out at most {@code step} bytes per read (odd steps too). */
    private static final class Dribble extends FilterInputStream {
        private final int step;

        Dribble(InputStream in, int step) {
            super(in);
            this.step = step;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return super.read(b, off, Math.min(len, step));
        }
    }

    public void testSample() throws Exception {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Testkey", "tester");
        FakeStorletOutputStream out =
            run("abcdefghijklmonp".getBytes("UTF-8"), md);
        assertEquals("acegikmn", out.getText());
        assertEquals(md, out.getOutputMetadata());
        assertTrue(out.isClosed(), "output closed");
    }

    public void testRangeExample() throws Exception {
        assertEquals("fhj", run("fghijk".getBytes("UTF-8"), null).getText());
    }

    public void testOddLengthAndEmpty() throws Exception {
        assertEquals("ace", run("abcde".getBytes("UTF-8"), null).getText());
        assertEquals("", run(new byte[0], null).getText());
    }

    public void testAcrossBufferBoundaries() throws Exception {
        byte[] data = new byte[3 * HalfStorlet.BUFFER_SIZE + 3];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i % 251);
        }
        assertEquals(evenBytes(data), run(data, null).getData());
    }

    public void testOddSizedReads() throws Exception {
        byte[] data = new byte[1000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        for (int step : new int[] {1, 3, 7, 64}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            HalfStorlet.halve(
                new Dribble(new java.io.ByteArrayInputStream(data), step), out);
            assertEquals(evenBytes(data), out.toByteArray());
        }
    }
}
