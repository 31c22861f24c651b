package org.openstack.storlet.thumbnail;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/**
 * Makes a thumbnail: decodes the input image (any format the JDK's
 * {@code javax.imageio} reads: JPEG, PNG, GIF, BMP, ...) and writes it as
 * a PNG scaled to 1/8 of its width and height (at least 1x1), with
 * bilinear interpolation. Output metadata: the input's (as upstream, the
 * content type is not changed). No parameters.
 *
 * <p>Runs headless and uses no temporary files (image streams are cached
 * in memory). The whole image is decoded in memory, as any decoder must.
 * Input that cannot be decoded is a {@link StorletException}, raised
 * before any metadata is set.
 */
public class ThumbnailStorlet implements IStorlet {
    static final int SCALE = 8;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            BufferedImage image = decode(input.getStream());
            BufferedImage thumbnail = shrink(image);
            logger.emitLog("ThumbnailStorlet: " + image.getWidth() + "x"
                           + image.getHeight() + " -> "
                           + thumbnail.getWidth() + "x"
                           + thumbnail.getHeight());
            output.setMetadata(
                new HashMap<String, String>(input.getMetadata()));
            encodePng(thumbnail, output.getStream());
        } catch (IOException e) {
            throw new StorletException("ThumbnailStorlet: " + e.getMessage(),
                                       e);
        } finally {
            output.close();
        }
    }

    static BufferedImage decode(InputStream in)
            throws IOException, StorletException {
        ImageInputStream stream = new MemoryCacheImageInputStream(in);
        try {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
            if (!readers.hasNext()) {
                throw new StorletException(
                    "ThumbnailStorlet: the input is not an image in a format"
                    + " this JVM can decode");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(stream, true, true);
                return reader.read(0);
            } catch (IOException | RuntimeException e) {
                throw new StorletException(
                    "ThumbnailStorlet: cannot decode the input image ("
                    + reader.getFormatName() + "): " + e.getMessage(), e);
            } finally {
                reader.dispose();
            }
        } finally {
            stream.close();
        }
    }

    static BufferedImage shrink(BufferedImage image) {
        int width = Math.max(1, image.getWidth() / SCALE);
        int height = Math.max(1, image.getHeight() / SCALE);
        int type = image.getColorModel().hasAlpha()
            ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB;
        BufferedImage small = new BufferedImage(width, height, type);
        Graphics2D g = small.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION,
                               RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING,
                               RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(image, 0, 0, width, height, null);
        } finally {
            g.dispose();
        }
        return small;
    }

    static void encodePng(BufferedImage image, OutputStream out)
            throws IOException, StorletException {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("png");
        if (!writers.hasNext()) {
            throw new StorletException("ThumbnailStorlet: no PNG encoder");
        }
        ImageWriter writer = writers.next();
        ImageOutputStream stream = new MemoryCacheImageOutputStream(out);
        try {
            writer.setOutput(stream);
            writer.write(image);
            stream.flush();
        } finally {
            writer.dispose();
            stream.close();   // does not close out
        }
    }
}
