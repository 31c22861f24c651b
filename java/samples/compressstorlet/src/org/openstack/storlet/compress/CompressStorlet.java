package org.openstack.storlet.compress;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/**
 * Gzips or gunzips its input as a stream. Output metadata: the input's.
 *
 * <p>Parameter {@code action}: {@code compress} (the default) or
 * {@code uncompress}; any other value is a {@link StorletException}. Input
 * that is not gzip data fails with a {@link StorletException}; when its
 * header is already wrong, that happens before any metadata is set.
 */
public class CompressStorlet implements IStorlet {
    static final int BUFFER_SIZE = 65536;

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        String action = parameters.get("action");
        if (action == null) {
            action = "compress";
        }
        boolean compress;
        if (action.equals("compress")) {
            compress = true;
        } else if (action.equals("uncompress")) {
            compress = false;
        } else {
            throw new StorletException("CompressStorlet: action must be "
                + "'compress' or 'uncompress', got '" + action + "'");
        }
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            InputStream in = input.getStream();
            if (!compress) {
                // reads the gzip header: bad input fails before metadata
                in = new GZIPInputStream(in, BUFFER_SIZE);
            }
            output.setMetadata(
                new HashMap<String, String>(input.getMetadata()));
            OutputStream out = output.getStream();
            if (compress) {
                GZIPOutputStream gzip = new GZIPOutputStream(out, BUFFER_SIZE);
                copy(in, gzip);
                gzip.finish();
            } else {
                copy(in, out);
            }
            logger.emitLog("CompressStorlet: " + action + " done");
        } catch (IOException e) {
            throw new StorletException("CompressStorlet: " + action
                                       + " failed: " + e, e);
        } finally {
            output.close();
        }
    }

    private static void copy(InputStream in, OutputStream out)
            throws IOException {
        byte[] buffer = new byte[BUFFER_SIZE];
        int n;
        while ((n = in.read(buffer)) >= 0) {
            out.write(buffer, 0, n);
        }
    }
}
