package org.openstack.storlet.csv;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class CSVStorletTest {
    private static final String[] COUNTRIES = {"FRA", "ESP", "ITA", "DEU"};

    /** id,kind,name,city,date,value,country */
    private static String table(int rows) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < rows; i++) {
            text.append(i).append(',')
                .append(i % 3 == 0 ? "meter" : "gauge").append(',')
                .append("name ").append(i).append(',')
                .append(i % 2 == 0 ? "Paris" : "Madrid").append(',')
                .append("2015-0").append(1 + i % 9).append(',')
                .append(i * 7 % 100).append(',')
                .append(COUNTRIES[i % COUNTRIES.length]).append('\n');
        }
        return text.toString();
    }

    private static final String SMALL =
        "1,a b,x\n2,abc,y\n3,bcd,x\n4,,z\nshort\n";

    private static Map<String, String> params(String... kv) {
        Map<String, String> p = new HashMap<String, String>();
        for (int i = 0; i < kv.length; i += 2) {
            p.put(kv[i], kv[i + 1]);
        }
        return p;
    }

    /** Runs one partition [start, end] of {@code file} over its window. */
    private static FakeStorletOutputStream run(String file, long start,
                                               long end, boolean first,
                                               Map<String, String> extra)
            throws StorletException {
        int maxLine = 100;
        byte[] bytes = file.getBytes(StandardCharsets.UTF_8);
        byte[] window = Arrays.copyOfRange(
            bytes, (int) Math.min(start, bytes.length),
            (int) Math.min(end + maxLine + 1, bytes.length));
        Map<String, String> p = params(
            "start", Long.toString(start), "end", Long.toString(end),
            "max_record_line", Integer.toString(maxLine),
            "first_partition", Boolean.toString(first));
        p.putAll(extra);
        Map<String, String> md = new HashMap<String, String>();
        md.put("Key1", "v1");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(window, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new CSVStorlet().invoke(in, outs, p, new FakeStorletLogger());
        assertTrue(out.isClosed(), "output closed");
        return out;
    }

    private static String whole(String file, String... kv) throws Exception {
        return run(file, 0, file.length() - 1, true, params(kv)).getText();
    }

    public void testNoQueryCopiesRecords() throws Exception {
        FakeStorletOutputStream out =
            run(SMALL, 0, SMALL.length() - 1, true, params());
        assertEquals(SMALL, out.getText());
        assertEquals("v1", out.getOutputMetadata().get("Key1"));
    }

    public void testProjection() throws Exception {
        assertEquals("x,1\ny,2\nx,3\nz,4\n,short\n",
                     whole(SMALL, "selected_columns", "2, 0"));
    }

    public void testComparisons() throws Exception {
        assertEquals("1,a b,x\n3,bcd,x\n",
                     whole(SMALL, "where_clause", "EqualTo(2,x)"));
        assertEquals("2,abc,y\n4,,z\n",
                     whole(SMALL, "where_clause", "NotEqualTo(2,x)"));
        assertEquals("2,abc,y\n",
                     whole(SMALL, "where_clause", "StringStartsWith(1,ab)"));
        assertEquals("3,bcd,x\n",
                     whole(SMALL, "where_clause", "StringEndsWith(1,cd)"));
        assertEquals("2,abc,y\n",
                     whole(SMALL, "where_clause", "StringEndsWith(1,c)"));
        assertEquals("2,abc,y\n3,bcd,x\n",
                     whole(SMALL, "where_clause", "StringContains(1,bc)"));
        assertEquals("4,,z\n", whole(SMALL, "where_clause", "EqualTo(1,)"));
    }

    public void testSpaceToken() throws Exception {
        assertEquals("1,a b,x\n",
                     whole(SMALL, "where_clause", "EqualTo(1,aXYZYXb)"));
        assertEquals("1,a b,x\n",
                     whole(SMALL, "where_clause", "EqualTo(1,a b)"));
    }

    public void testAndOrAndImplicitAnd() throws Exception {
        assertEquals("3,bcd,x\n", whole(SMALL, "where_clause",
            "And(EqualTo(2,x), StringContains(1,c))"));
        assertEquals("1,a b,x\n3,bcd,x\n4,,z\n", whole(SMALL, "where_clause",
            "Or(EqualTo(2,x),EqualTo(2,z))"));
        assertEquals("3,bcd,x\n", whole(SMALL, "where_clause",
            "EqualTo(2,x) StringContains(1,c)"));
        assertEquals("3,bcd,x\n", whole(SMALL, "where_clause",
            "EqualTo(2,x)XYZYXStringContains(1,c)"));
        assertEquals("2,abc,y\n3,bcd,x\n", whole(SMALL, "where_clause",
            "Or(And(EqualTo(2,x),NotEqualTo(0,1)),EqualTo(0,2))"));
    }

    public void testMissingColumnNeverMatches() throws Exception {
        // "short" has no column 2, not even for NotEqualTo
        assertEquals("2,abc,y\n4,,z\n",
                     whole(SMALL, "where_clause", "NotEqualTo(2,x)"));
    }

    public void testWhereAndProjectionAndDelimiter() throws Exception {
        assertEquals("a b|bcd|", whole(SMALL, "where_clause", "EqualTo(2,x)",
                                       "selected_columns", "1",
                                       "delimiter", "|"));
    }

    public void testCrLfRecords() throws Exception {
        String file = "1,FRA\r\n2,ESP\r\n";
        assertEquals("1,FRA\n", whole(file, "where_clause", "EqualTo(1,FRA)"));
        assertEquals("1,FRA\r\n", whole(file, "where_clause", "EqualTo(1,FRA)",
                                        "delimiter", "\r\n"));
    }

    public void testUtf8Values() throws Exception {
        String file = "1,Zürich\n2,Genève\n3,Bern\n";
        assertEquals("2,Genève\n",
                     whole(file, "where_clause", "StringEndsWith(1,ève)"));
        assertEquals("Zürich\n",
                     whole(file, "where_clause", "StringStartsWith(1,Zü)",
                           "selected_columns", "1"));
    }

    public void testPartitionsUnionEqualsWhole() throws Exception {
        String file = table(3000);
        String[][] queries = {
            {"selected_columns", "4,6", "where_clause", "EqualTo(6,FRA)"},
            {"where_clause", "Or(StringStartsWith(3,Mad),EqualTo(1,meter))"},
            {},
        };
        for (String[] query : queries) {
            String expected = whole(file, query);
            assertTrue(expected.length() > 0, "query matches something");
            for (int[] cuts : new int[][] {{1000, 50000}, {7, 8, 9},
                                           {file.length() / 2}}) {
                StringBuilder joined = new StringBuilder();
                int start = 0;
                for (int i = 0; i <= cuts.length; i++) {
                    int end = i < cuts.length ? cuts[i] - 1
                                              : file.length() - 1;
                    joined.append(run(file, start, end, start == 0,
                                      params(query)).getText());
                    start = end + 1;
                }
                assertEquals(expected, joined.toString());
            }
        }
        // and the filter really selected: every FRA row, columns 4 and 6
        String fra = whole(file, queries[0]);
        assertEquals(750, fra.split("\n").length);
        assertTrue(fra.startsWith("2015-01,FRA\n2015-05,FRA\n"), fra);
    }

    public void testBadWhereClause() {
        String[] bad = {"EqualTo(6,FRA", "Equals(6,FRA)", "EqualTo(x,FRA)",
                        "And(EqualTo(1,a))", "EqualTo(1,a) junk", "(1,a)",
                        "Or(EqualTo(1,a),EqualTo(2,b)"};
        for (final String clause : bad) {
            StorletException e = assertThrows(StorletException.class,
                () -> whole(SMALL, "where_clause", clause));
            assertTrue(e.getMessage().contains("where_clause"),
                       e.getMessage());
        }
    }

    public void testBadParameters() {
        assertThrows(StorletException.class,
                     () -> whole(SMALL, "selected_columns", "1,x"));
        assertThrows(StorletException.class,
                     () -> whole(SMALL, "selected_columns", "-1"));
        StorletException e = assertThrows(StorletException.class, () -> {
            ArrayList<StorletInputStream> in =
                new ArrayList<StorletInputStream>();
            in.add(new FakeStorletInputStream(SMALL, null));
            ArrayList<StorletOutputStream> outs =
                new ArrayList<StorletOutputStream>();
            outs.add(new FakeStorletOutputStream());
            new CSVStorlet().invoke(in, outs, params("start", "0"),
                                    new FakeStorletLogger());
        });
        assertTrue(e.getMessage().contains("end, max_record_line"),
                   e.getMessage());
    }

    public void testEmptyClauseMeansAll() throws Exception {
        assertEquals(SMALL, whole(SMALL, "where_clause", "  ",
                                  "selected_columns", ""));
    }
}
