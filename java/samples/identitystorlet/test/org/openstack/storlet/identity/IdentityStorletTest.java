package org.openstack.storlet.identity;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class IdentityStorletTest {

    private static FakeStorletOutputStream run(byte[] data,
                                               Map<String, String> md,
                                               Map<String, String> params)
            throws StorletException {
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(data, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new IdentityStorlet().invoke(in, outs, params, new FakeStorletLogger());
        return out;
    }

    private static byte[] binary(int size) {
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) (i * 7 % 256);   // many NULs and high bytes
        }
        return data;
    }

    public void testCopiesBinaryDataAndMetadata() throws Exception {
        byte[] data = binary(200000);
        Map<String, String> md = new HashMap<String, String>();
        md.put("Color", "red");
        FakeStorletOutputStream out =
            run(data, md, new HashMap<String, String>());
        assertEquals(data, out.getData());
        assertEquals("red", out.getOutputMetadata().get("Color"));
        assertEquals(1, out.getOutputMetadata().size());
        assertTrue(out.isClosed(), "output closed");
    }

    public void testEmptyInput() throws Exception {
        FakeStorletOutputStream out =
            run(new byte[0], null, new HashMap<String, String>());
        assertEquals(0, out.getData().length);
        assertTrue(out.isClosed(), "output closed");
    }

    public void testParametersBecomeMetadata() throws Exception {
        Map<String, String> params = new HashMap<String, String>();
        params.put("color", "blue");
        params.put("storlet_execution_path", "/var/lib/storlets/x");
        FakeStorletOutputStream out = run("abc".getBytes("UTF-8"), null, params);
        assertEquals("blue", out.getOutputMetadata().get("Parameter-color"));
        assertEquals("/var/lib/storlets/x",
                     out.getOutputMetadata().get(
                         "Parameter-storlet_execution_path"));
        assertEquals("abc", out.getText());
    }

    public void testDoubleWritesEachChunkTwice() throws Exception {
        Map<String, String> params = new HashMap<String, String>();
        params.put("double", "true");
        params.put("chunk_size", "4");
        FakeStorletOutputStream out =
            run("abcdefghij".getBytes("UTF-8"), null, params);
        assertEquals("abcdabcdefghefghijij", out.getText());
    }

    public void testDoubleWithDefaultChunk() throws Exception {
        Map<String, String> params = new HashMap<String, String>();
        params.put("double", "TRUE");
        FakeStorletOutputStream out =
            run("a\0b".getBytes("UTF-8"), null, params);
        assertEquals("a\0ba\0b", out.getText());
    }

    public void testSmallChunkSizeCopiesExactly() throws Exception {
        byte[] data = binary(1001);
        Map<String, String> params = new HashMap<String, String>();
        params.put("chunk_size", "7");
        assertEquals(data, run(data, null, params).getData());
    }

    public void testExecuteRunsGet42() throws Exception {
        Map<String, String> params = new HashMap<String, String>();
        params.put("execute", "true");
        FakeStorletOutputStream out = run("xyz".getBytes("UTF-8"), null, params);
        assertEquals("42", out.getOutputMetadata().get("Execution-Result"));
        assertEquals("xyz", out.getText());
    }

    public void testNoExecuteNoResult() throws Exception {
        FakeStorletOutputStream out =
            run("xyz".getBytes("UTF-8"), null, new HashMap<String, String>());
        assertEquals(null, out.getOutputMetadata().get("Execution-Result"));
    }

    public void testBadChunkSize() {
        for (final String bad : new String[] {"abc", "0", "-5", "1.5",
                                              "99999999999"}) {
            final Map<String, String> params = new HashMap<String, String>();
            params.put("chunk_size", bad);
            StorletException e = assertThrows(StorletException.class,
                () -> run("abc".getBytes("UTF-8"), null, params));
            assertTrue(e.getMessage().contains("chunk_size"), e.getMessage());
        }
    }
}
