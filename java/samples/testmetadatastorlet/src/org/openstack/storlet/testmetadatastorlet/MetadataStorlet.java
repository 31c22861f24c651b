package org.openstack.storlet.testmetadatastorlet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
 * Tests metadata handling: output metadata = the input's plus
 * {@code override_key: new_value} (replacing any input value of that
 * key). Reads at most 100 bytes of the input (and ignores them) and
 * writes {@code 1234567890}. No parameters.
 */
public class MetadataStorlet implements IStorlet {
    static final int READ_LIMIT = 100;
    static final byte[] DATA = "1234567890".getBytes(StandardCharsets.US_ASCII);

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            int n = input.getStream().read(new byte[READ_LIMIT]);
            logger.emitLog("MetadataStorlet: read " + Math.max(n, 0)
                           + " bytes");
            HashMap<String, String> md =
                new HashMap<String, String>(input.getMetadata());
            md.put("override_key", "new_value");
            output.setMetadata(md);
            output.getStream().write(DATA);
        } catch (IOException e) {
            throw new StorletException("MetadataStorlet: " + e.getMessage(),
                                       e);
        } finally {
            output.close();
        }
    }
}
