package org.openstack.storlet.execdep;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class ExecDepStorletTest {

    public void testReportsExitCode() throws Exception {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Key1", "v1");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream("some data", md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        FakeStorletLogger logger = new FakeStorletLogger();
        new ExecDepStorlet().invoke(in, outs, new HashMap<String, String>(),
                                    logger);
        assertEquals("42", out.getOutputMetadata().get("depend-ret-code"));
        assertEquals("v1", out.getOutputMetadata().get("Key1"));
        assertEquals(2, out.getOutputMetadata().size());
        assertEquals(0, out.getData().length);
        assertTrue(out.isClosed(), "output closed");
        assertTrue(logger.getLines().toString().contains("exited with 42"),
                   logger.getLines().toString());
    }
}
