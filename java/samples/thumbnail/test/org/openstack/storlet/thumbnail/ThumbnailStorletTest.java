package org.openstack.storlet.thumbnail;

import static org.openstack.storlet.testrunner.Assert.assertEquals;
import static org.openstack.storlet.testrunner.Assert.assertThrows;
import static org.openstack.storlet.testrunner.Assert.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import javax.imageio.ImageIO;

import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.testing.FakeStorletInputStream;
import org.openstack.storlet.testing.FakeStorletLogger;
import org.openstack.storlet.testing.FakeStorletOutputStream;

public class ThumbnailStorletTest {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private static FakeStorletOutputStream run(byte[] data)
            throws StorletException {
        Map<String, String> md = new HashMap<String, String>();
        md.put("Key1", "v1");
        ArrayList<StorletInputStream> in = new ArrayList<StorletInputStream>();
        in.add(new FakeStorletInputStream(data, md));
        FakeStorletOutputStream out = new FakeStorletOutputStream();
        ArrayList<StorletOutputStream> outs =
            new ArrayList<StorletOutputStream>();
        outs.add(out);
        new ThumbnailStorlet().invoke(in, outs, new HashMap<String, String>(),
                                      new FakeStorletLogger());
        return out;
    }

    /** Left half red, right half blue. */
    private static byte[] image(int width, int height, String format)
            throws Exception {
        BufferedImage image =
            new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, x < width / 2 ? 0xff0000 : 0x0000ff);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(image, format, out), "no " + format + " writer");
        return out.toByteArray();
    }

    private static BufferedImage decode(byte[] png) throws Exception {
        // PNG signature first
        assertEquals((byte) 0x89, png[0]);
        assertEquals("PNG", new String(png, 1, 3, "US-ASCII"));
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
        assertTrue(image != null, "output is not a decodable image");
        return image;
    }

    public void testPngThumbnail() throws Exception {
        FakeStorletOutputStream out = run(image(64, 48, "png"));
        BufferedImage thumb = decode(out.getData());
        assertEquals(8, thumb.getWidth());
        assertEquals(6, thumb.getHeight());
        // colours survive the scaling
        assertEquals(0xff0000, thumb.getRGB(0, 3) & 0xffffff);
        assertEquals(0x0000ff, thumb.getRGB(7, 3) & 0xffffff);
        assertEquals("v1", out.getOutputMetadata().get("Key1"));
        assertTrue(out.isClosed(), "output closed");
    }

    public void testJpegThumbnail() throws Exception {
        BufferedImage thumb = decode(run(image(64, 48, "jpg")).getData());
        assertEquals(8, thumb.getWidth());
        assertEquals(6, thumb.getHeight());
        int left = thumb.getRGB(0, 3);
        assertTrue(((left >> 16) & 0xff) > 200 && (left & 0xff) < 60,
                   "left pixel not red: " + Integer.toHexString(left));
    }

    public void testTinyImageGivesOnePixel() throws Exception {
        BufferedImage thumb = decode(run(image(5, 3, "png")).getData());
        assertEquals(1, thumb.getWidth());
        assertEquals(1, thumb.getHeight());
    }

    public void testGarbageInput() {
        StorletException e = assertThrows(StorletException.class,
            () -> run("this is not an image".getBytes("UTF-8")));
        assertTrue(e.getMessage().contains("not an image"), e.getMessage());
    }

    public void testTruncatedImage() throws Exception {
        byte[] png = image(64, 48, "png");
        final byte[] cut = java.util.Arrays.copyOf(png, 40);
        assertThrows(StorletException.class, () -> run(cut));
    }
}
