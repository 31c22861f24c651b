package org.openstack.storlet.multiinput;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class MultiInputStorletTest {

    private static Map<String, String> md(String... kv) {
        Map<String, String> m = new HashMap<String, String>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    public void testConcatenatesAndMergesMetadata() throws Exception {
        byte[] first = new byte[100000];
        for (int i = 0; i < first.length; i++) {
            first[i] = (byte) (i % 3 == 0 ? 0 : i);
        }
        byte[] second = "\0second\0".getBytes("UTF-8");
        byte[] third = new byte[0];
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(first, md("Key1", "a", "Shared", "1")));
        in.add(new FakeStorletInputStream(second, md("Key2", "b", "Shared", "2")));
        in.add(new FakeStorletInputStream(third, md("Shared", "3")));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new MultiInputStorlet().invoke(in, outs, new HashMap<String, String>(),
                                       new FakeStorletLogger());

        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.write(first);
        expected.write(second);
        assertEquals(expected.toByteArray(), out.getData());
        assertEquals(md("Key1", "a", "Key2", "b", "Shared", "3"),
                     out.getOutputMetadata());
        assertTrue(out.isClosed(), "output closed");
    }

    public void testSingleInput() throws Exception {
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream("only", md("K", "v")));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new MultiInputStorlet().invoke(in, outs, new HashMap<String, String>(),
                                       new FakeStorletLogger());
        assertEquals("only", out.getText());
        assertEquals(md("K", "v"), out.getOutputMetadata());
    }
}
