package org.openstack.storlet;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class PartitionsIdentityStorletTest {
    private FakeStorletLogger logger = new FakeStorletLogger();

    /** Hands out at most {@code step} bytes per read. */
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

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Records of 1 to 20 bytes, some empty lines, no NULs. */
    private static byte[] fixture(int records, long seed, boolean lastNewline) {
        Random random = new Random(seed);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < records; i++) {
            int length = random.nextInt(5) == 0 ? 0 : random.nextInt(19) + 1;
            for (int j = 0; j < length; j++) {
                text.append((char) ('a' + random.nextInt(26)));
            }
            text.append('\n');
        }
        if (!lastNewline) {
            text.append("tail");
        }
        return bytes(text.toString());
    }

    private static int longestRecord(byte[] file) {
        int longest = 0;
        int from = 0;
        for (int i = 0; i < file.length; i++) {
            if (file[i] == '\n') {
                longest = Math.max(longest, i + 1 - from);
                from = i + 1;
            }
        }
        return Math.max(longest, file.length - from);
    }

    /** Runs the storlet as the engine would for a ranged GET. */
    private FakeStorletOutputStream run(byte[] file, Map<String, String> params,
                                        long windowFirst, long windowLast,
                                        int step) throws StorletException {
        int from = (int) Math.min(windowFirst, file.length);
        int to = (int) Math.min(windowLast + 1, file.length);
        InputStream window = new Dribble(
            new ByteArrayInputStream(Arrays.copyOfRange(file, from,
                                                        Math.max(from, to))),
            step);
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        HashMap<String, String> md = new HashMap<String, String>();
        md.put("Key1", "v1");
        in.add(new StorletInputStream(window, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new PartitionsIdentityStorlet().invoke(in, outs, params, logger);
        return out;
    }

    private byte[] partition(byte[] file, long start, long end, long maxLine,
                             boolean first, int step) throws StorletException {
        Map<String, String> params = new HashMap<String, String>();
        params.put("start", Long.toString(start));
        params.put("end", Long.toString(end));
        params.put("max_record_line", Long.toString(maxLine));
        params.put("first_partition", first ? "true" : "false");
        FakeStorletOutputStream out =
            run(file, params, start, end + maxLine, step);
        assertEquals(new HashMap<String, String>(), out.getOutputMetadata());
        assertTrue(out.isClosed(), "output closed");
        return out.getData();
    }

    /** Splits the file at {@code cuts} and joins the partitions' outputs. */
    private byte[] splitAndJoin(byte[] file, TreeSet<Integer> cuts, int step)
            throws Exception {
        int maxLine = longestRecord(file);
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        int start = 0;
        for (int cut : cuts) {
            joined.write(partition(file, start, cut - 1, maxLine, start == 0,
                                   step));
            start = cut;
        }
        joined.write(partition(file, start, file.length - 1, maxLine,
                               start == 0, step));
        return joined.toByteArray();
    }

    // "aaa\n" 0-3, "bb\n" 4-6, "cccc\n" 7-11, "d\n" 12-13
    private static final byte[] SMALL = bytes("aaa\nbb\ncccc\nd\n");

    public void testFirstPartition() throws Exception {
        assertEquals("aaa\n", new String(partition(SMALL, 0, 0, 5, true, 99)));
        assertEquals("aaa\n", new String(partition(SMALL, 0, 2, 5, true, 99)));
        // end on the newline that ends a record: the next record is owned
        assertEquals("aaa\nbb\n",
                     new String(partition(SMALL, 0, 3, 5, true, 99)));
        assertEquals("aaa\nbb\n",
                     new String(partition(SMALL, 0, 5, 5, true, 99)));
        assertEquals("aaa\nbb\ncccc\n",
                     new String(partition(SMALL, 0, 6, 5, true, 99)));
    }

    public void testLaterPartitionDropsFirstLine() throws Exception {
        // start inside "aaa\n" or on its newline: "bb\n" comes first
        for (int start = 1; start <= 3; start++) {
            assertEquals("bb\n",
                         new String(partition(SMALL, start, 5, 5, false, 99)));
        }
        // start on the first byte of "bb\n": that record belongs before
        assertEquals("cccc\n", new String(partition(SMALL, 4, 6, 5, false, 99)));
        assertEquals("cccc\nd\n",
                     new String(partition(SMALL, 4, 11, 5, false, 99)));
        // no newline within [start, end]: nothing is owned
        assertEquals("", new String(partition(SMALL, 8, 10, 5, false, 99)));
    }

    public void testFirstPartitionNeedNotStartAtZero() throws Exception {
        assertEquals("bb\ncccc\n",
                     new String(partition(SMALL, 4, 6, 5, true, 99)));
    }

    public void testLastLineWithoutNewlineKept() throws Exception {
        byte[] file = bytes("one\ntwo\nthree");
        assertEquals("two\nthree",
                     new String(partition(file, 2, 12, 10, false, 99)));
        assertEquals("", new String(partition(file, 9, 12, 10, false, 99)));
    }

    public void testExactlyOnceAtEverySplitPoint() throws Exception {
        for (boolean lastNewline : new boolean[] {true, false}) {
            byte[] file = fixture(30, 1, lastNewline);
            for (int cut = 1; cut < file.length; cut++) {
                TreeSet<Integer> cuts = new TreeSet<Integer>();
                cuts.add(cut);
                assertEquals(file, splitAndJoin(file, cuts, 1 + cut % 5));
            }
        }
    }

    public void testExactlyOnceManyPartitions() throws Exception {
        Random random = new Random(42);
        for (int round = 0; round < 300; round++) {
            byte[] file = fixture(1 + random.nextInt(60), round,
                                  random.nextBoolean());
            TreeSet<Integer> cuts = new TreeSet<Integer>();
            int count = random.nextInt(10);
            for (int i = 0; i < count && file.length > 1; i++) {
                cuts.add(1 + random.nextInt(file.length - 1));
            }
            int step = random.nextBoolean() ? 65536 : 1 + random.nextInt(7);
            assertEquals(new String(file, StandardCharsets.UTF_8),
                         new String(splitAndJoin(file, cuts, step),
                                    StandardCharsets.UTF_8));
        }
    }

    public void testBigFileAcrossBuffers() throws Exception {
        byte[] file = fixture(40000, 3, true);   // several 64 KiB buffers
        TreeSet<Integer> cuts = new TreeSet<Integer>();
        cuts.add(65536);
        cuts.add(65537);
        cuts.add(200000);
        assertEquals(file, splitAndJoin(file, cuts, 65536));
    }

    public void testMissingParameters() throws Exception {
        Map<String, String> params = new HashMap<String, String>();
        params.put("start", "0");
        params.put("first_partition", "true");
        FakeStorletOutputStream out = run(SMALL, params, 0, 100, 99);
        assertEquals(new HashMap<String, String>(), out.getOutputMetadata());
        assertEquals(0, out.getData().length);
        assertTrue(out.isClosed(), "output closed");
        String log = logger.getLines().toString();
        assertTrue(log.contains("end, max_record_line"), log);
    }

    public void testBadParameters() {
        String[][] cases = {
            {"x", "5", "5", "true"}, {"0", "-1", "5", "true"},
            {"0", "5", "5", "maybe"}, {"6", "5", "5", "false"},
        };
        for (final String[] c : cases) {
            final Map<String, String> params = new HashMap<String, String>();
            params.put("start", c[0]);
            params.put("end", c[1]);
            params.put("max_record_line", c[2]);
            params.put("first_partition", c[3]);
            assertThrows(StorletException.class,
                         () -> run(SMALL, params, 0, 100, 99));
        }
    }

    public void testWarnsWhenWindowCutsRecord() throws Exception {
        byte[] file = bytes("a\nbbbbbbbbbbbbbbbbbbbb\nc\n");
        // max_record_line 3 is a lie: "bbb...\n" is 21 bytes
        assertEquals("bbb", new String(partition(file, 1, 1, 3, false, 99)));
        assertTrue(logger.getLines().toString().contains("max_record_line"),
                   logger.getLines().toString());
    }
}
