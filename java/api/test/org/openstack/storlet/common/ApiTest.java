package org.openstack.storlet.common;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

/** The storlet API classes and the test doubles, as a storlet sees them. */
public class ApiTest {

    private static File tempFile(byte[] content) throws IOException {
        File f = File.createTempFile("storlets-api", ".bin");
        f.deleteOnExit();
        try (FileOutputStream out = new FileOutputStream(f)) {
            out.write(content);
        }
        return f;
    }

    private static byte[] readAll(InputStream in, int bufferSize)
            throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buffer = new byte[bufferSize];
        int n;
        while ((n = in.read(buffer)) != -1) {
            all.write(buffer, 0, n);
        }
        return all.toByteArray();
    }

    private static FileChannel open(File f) throws IOException {
        return FileChannel.open(f.toPath(), StandardOpenOption.READ);
    }

    public void testRangeReadsWithBufferSmallerThanTheRange()
            throws Exception {
        File f = tempFile("abcdefghijklmonp".getBytes(StandardCharsets.UTF_8));
        RangeStorletInputStream in = new RangeStorletInputStream(
            open(f), new HashMap<String, String>(), 5, 11);
        assertEquals("fghijk", new String(readAll(in.getStream(), 4),
                                          StandardCharsets.UTF_8));
        in.close();
    }

    public void testRangeSingleByteReadsAvailableAndSkip() throws Exception {
        File f = tempFile("0123456789".getBytes(StandardCharsets.UTF_8));
        InputStream s = new RangeStorletInputStream(
            open(f), null, 2, 8).getStream();
        assertEquals(6, s.available());
        assertEquals((int) '2', s.read());
        assertEquals(2L, s.skip(2));
        assertEquals(3, s.available());
        assertEquals("567", new String(readAll(s, 100),
                                       StandardCharsets.UTF_8));
        assertEquals(-1, s.read());
        assertEquals(0, s.available());
        assertTrue(!s.markSupported(), "mark is not supported");
    }

    public void testRangeBeyondTwoGibibytes() throws Exception {
        // A sparse file: 3 GiB long, a marker near its end.
        File f = File.createTempFile("storlets-api-big", ".bin");
        f.deleteOnExit();
        long size = 3L << 30;
        try (RandomAccessFile raf = new RandomAccessFile(f, "rw")) {
            raf.setLength(size);
            raf.seek(size - 4);
            raf.write("tail".getBytes(StandardCharsets.UTF_8));
        }
        InputStream s = new RangeStorletInputStream(
            open(f), null, 16, size).getStream();
        assertEquals(Integer.MAX_VALUE, s.available());
        assertEquals(size - 16 - 8, s.skip(size - 16 - 8));
        byte[] last = readAll(s, 3);
        assertEquals("\0\0\0\0tail", new String(last,
                                                 StandardCharsets.UTF_8));
        f.delete();
    }

    public void testRangeRejectsAnInvertedWindow() throws Exception {
        File f = tempFile(new byte[4]);
        assertThrows(IOException.class,
                     () -> new RangeStorletInputStream(open(f), null, 3, 2));
    }

    public void testInputMetadataIsTheLiveMap() {
        HashMap<String, String> md = new HashMap<String, String>();
        md.put("Color", "red");
        StorletInputStream in = new StorletInputStream(
            new java.io.ByteArrayInputStream(new byte[0]), md);
        in.getMetadata().put("Size", "1");
        assertEquals("1", md.get("Size"));
    }

    public void testSetMetadataWritesJsonAndKeepsTheCallersMap()
            throws Exception {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ByteArrayOutputStream md = new ByteArrayOutputStream();
        StorletObjectOutputStream out = new StorletObjectOutputStream(
            data, new HashMap<String, String>(), md);
        Map<String, String> mine = new LinkedHashMap<String, String>();
        mine.put("b", "quote \" backslash \\ newline \n");
        mine.put("a", "caf\u00e9 \u0001");
        out.setMetadata(mine);
        assertEquals(2, mine.size());
        assertEquals("{\"a\": \"caf\u00e9 \\u0001\", \"b\": \"quote \\\" "
                     + "backslash \\\\ newline \\n\"}",
                     new String(md.toByteArray(), StandardCharsets.UTF_8));
        out.getStream().write("x".getBytes(StandardCharsets.UTF_8));
        assertEquals("x", data.toString("UTF-8"));
    }

    public void testDataBeforeMetadataFails() {
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        IOException e = assertThrows(
            IOException.class, () -> out.getStream().write(new byte[3]));
        assertTrue(e.getMessage().contains("metadata"), e.getMessage());
        assertEquals(0, out.getData().length);
    }

    public void testMetadataTwiceFails() throws Exception {
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        out.setMetadata(new HashMap<String, String>());
        assertThrows(StorletException.class,
                     () -> out.setMetadata(new HashMap<String, String>()));
    }

    public void testNullMetadataValueFails() {
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        HashMap<String, String> md = new HashMap<String, String>();
        md.put("k", null);
        assertThrows(StorletException.class, () -> out.setMetadata(md));
        assertEquals(null, out.getOutputMetadata());
    }

    public void testFakesCaptureAStorletRun() throws Exception {
        IStorlet upper = (ins, outs, params, log) -> {
            StorletObjectOutputStream out =
                (StorletObjectOutputStream) outs.get(0);
            HashMap<String, String> md =
                new HashMap<String, String>(ins.get(0).getMetadata());
            md.put("Case", params.get("case"));
            out.setMetadata(md);
            log.emitLog("upper-casing");
            try {
                byte[] all = readAll(ins.get(0).getStream(), 2);
                out.getStream().write(new String(all, StandardCharsets.UTF_8)
                                      .toUpperCase().getBytes(
                                          StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new StorletException(e.toString());
            }
            out.close();
        };
        Map<String, String> inMd = new HashMap<String, String>();
        inMd.put("Color", "red");
        ArrayList<StorletInputStream> ins =
            new ArrayList<StorletInputStream>();
        ins.add(new FakeStorletInputStream("hello", inMd));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        FakeStorletLogger log = new FakeStorletLogger();
        Map<String, String> params = new HashMap<String, String>();
        params.put("case", "upper");
        upper.invoke(ins, outs, params, log);
        assertEquals("HELLO", out.getText());
        assertEquals("red", out.getOutputMetadata().get("Color"));
        assertEquals("upper", out.getOutputMetadata().get("Case"));
        assertTrue(out.isClosed(), "output closed");
        assertEquals(1, log.getLines().size());
        assertEquals("upper-casing", log.getLines().get(0));
    }

    public void testClassFolderIsTheJarsDirectory() throws Exception {
        String folder = StorletUtils.getClassFolder(StorletUtils.class);
        File jarDir = new File(folder);
        assertTrue(jarDir.isDirectory(), folder + " is a directory");
        assertTrue(new File(jarDir, "storlets-api.jar").isFile(),
                   folder + " holds storlets-api.jar");
    }

    public void testLoggerIgnoresErrors() {
        StorletLogger log = new StorletLogger(new java.io.OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("disk full");
            }
        });
        log.emitLog("lost");
        log.Flush();
        log.close();
    }
}
