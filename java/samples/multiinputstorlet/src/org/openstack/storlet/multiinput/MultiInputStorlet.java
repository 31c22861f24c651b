package org.openstack.storlet.multiinput;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/**
 * Concatenates all its inputs (the main one, then the extra resources in
 * request order), byte for byte. Output metadata: the union of the inputs'
 * metadata; on a key clash the later input wins. No parameters.
 */
public class MultiInputStorlet implements IStorlet {
    static final int BUFFER_SIZE = 65536;

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            HashMap<String, String> md = new HashMap<String, String>();
            for (StorletInputStream input : inStreams) {
                md.putAll(input.getMetadata());
            }
            output.setMetadata(md);
            OutputStream out = output.getStream();
            byte[] buffer = new byte[BUFFER_SIZE];
            for (StorletInputStream input : inStreams) {
                InputStream in = input.getStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    out.write(buffer, 0, n);
                }
            }
            logger.emitLog("MultiInputStorlet: joined " + inStreams.size()
                           + " inputs");
        } catch (IOException e) {
            throw new StorletException("MultiInputStorlet: " + e.getMessage(),
                                       e);
        } finally {
            output.close();
        }
    }
}
