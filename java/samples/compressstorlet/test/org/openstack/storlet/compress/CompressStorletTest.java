package org.openstack.storlet.compress;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class CompressStorletTest {

    private static FakeStorletOutputStream run(byte[] data, String action)
            throws StorletException {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Key1", "v1");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(data, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        Map<String, String> params = new HashMap<String, String>();
        if (action != null) {
            params.put("action", action);
        }
        new CompressStorlet().invoke(in, outs, params, new FakeStorletLogger());
        return out;
    }

    private static byte[] sample() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 20000; i++) {
            text.append("line ").append(i % 100).append('\n');
        }
        return text.toString().getBytes();
    }

    private static byte[] gunzip(byte[] data) throws Exception {
        GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(data));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        int n;
        while ((n = in.read(buffer)) >= 0) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    public void testCompressIsDefaultAndShrinks() throws Exception {
        byte[] data = sample();
        FakeStorletOutputStream out = run(data, null);
        assertTrue(out.getData().length < data.length / 5,
                   "compressed to " + out.getData().length);
        assertEquals(data, gunzip(out.getData()));
        assertEquals("v1", out.getOutputMetadata().get("Key1"));
        assertTrue(out.isClosed(), "output closed");
    }

    public void testRoundTripBinary() throws Exception {
        byte[] data = new byte[300000];
        new Random(7).nextBytes(data);
        byte[] packed = run(data, "compress").getData();
        FakeStorletOutputStream out = run(packed, "uncompress");
        assertEquals(data, out.getData());
        assertEquals("v1", out.getOutputMetadata().get("Key1"));
    }

    public void testUncompressForeignGzip() throws Exception {
        ByteArrayOutputStream packed = new ByteArrayOutputStream();
        GZIPOutputStream gzip = new GZIPOutputStream(packed);
        gzip.write("hello storlets".getBytes());
        gzip.close();
        assertEquals("hello storlets",
                     run(packed.toByteArray(), "uncompress").getText());
    }

    public void testEmptyRoundTrip() throws Exception {
        byte[] packed = run(new byte[0], "compress").getData();
        assertEquals(0, run(packed, "uncompress").getData().length);
    }

    public void testBadAction() {
        StorletException e = assertThrows(StorletException.class,
            () -> run(sample(), "zip"));
        assertTrue(e.getMessage().contains("zip"), e.getMessage());
    }

    public void testUncompressGarbage() {
        assertThrows(StorletException.class,
                     () -> run("not gzip at all".getBytes(), "uncompress"));
    }
}
