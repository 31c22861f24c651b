package org.openstack.storlet.test;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class Test1Test {
    private final FakeStorletLogger logger = new FakeStorletLogger();
    private final FakeStorletOutputStream out = new FakeStorletOutputStream();

    private void run(Map<String, String> params) throws StorletException {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Key1", "value1");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream("some content", md));
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new test1().invoke(in, outs, params, logger);
    }

    private static Map<String, String> params(String... kv) {
        Map<String, String> p = new HashMap<String, String>();
        for (int i = 0; i < kv.length; i += 2) {
            p.put(kv[i], kv[i + 1]);
        }
        return p;
    }

    public void testPrintWritesSortedParameters() throws Exception {
        run(params("param2", "val2", "op", "print", "a", "b c"));
        assertEquals("a    b c\nop    print\nparam2    val2\n", out.getText());
        assertEquals("value1", out.getOutputMetadata().get("Key1"));
        assertTrue(out.isClosed(), "output closed");
    }

    public void testParametersAreLogged() throws Exception {
        run(params("op", "print", "param2", "val2"));
        List<String> lines = logger.getLines();
        assertTrue(lines.contains("op=print"), lines.toString());
        assertTrue(lines.contains("param2=val2"), lines.toString());
    }

    public void testMissingOp() {
        StorletException e = assertThrows(StorletException.class,
            () -> run(params("param2", "val2")));
        assertTrue(e.getMessage().contains("op"), e.getMessage());
        assertEquals(null, out.getOutputMetadata());
    }

    public void testCrashThrowsNullPointerException() {
        assertThrows(NullPointerException.class,
                     () -> run(params("op", "crash")));
        assertEquals(null, out.getOutputMetadata());
    }

    public void testUnknownOpSetsMetadataOnly() throws Exception {
        run(params("op", "nothing"));
        assertEquals("value1", out.getOutputMetadata().get("Key1"));
        assertEquals("", out.getText());
        assertTrue(out.isClosed(), "output closed");
    }

    public void testShortHold() throws Exception {
        long t0 = System.nanoTime();
        run(params("op", "hold", "seconds", "0.2"));
        long ms = (System.nanoTime() - t0) / 1000000;
        assertTrue(ms >= 190, "held " + ms + " ms");
        assertTrue(ms < 5000, "held " + ms + " ms");
        assertEquals("value1", out.getOutputMetadata().get("Key1"));
        assertEquals("", out.getText());
        assertTrue(out.isClosed(), "output closed");
    }

    public void testBadHoldSeconds() {
        for (final String bad : new String[] {"x", "-1", "NaN"}) {
            assertThrows(StorletException.class,
                         () -> new Test1Test().run(
                             params("op", "hold", "seconds", bad)));
        }
    }

    public void testInterruptEndsDefaultHold() throws Exception {
        final AtomicReference<Throwable> thrown =
            new AtomicReference<Throwable>();
        Thread caller = new Thread(() -> {
            try {
                run(params("op", "hold"));   // 100 s unless interrupted
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        long t0 = System.nanoTime();
        caller.start();
        Thread.sleep(200);
        caller.interrupt();
        caller.join(5000);
        assertTrue(!caller.isAlive(), "hold did not end on interrupt");
        assertTrue((System.nanoTime() - t0) / 1000000 < 5000, "too slow");
        assertTrue(thrown.get() instanceof StorletException,
                   "expected StorletException, got " + thrown.get());
        assertTrue(out.isClosed(), "output closed");
    }
}
