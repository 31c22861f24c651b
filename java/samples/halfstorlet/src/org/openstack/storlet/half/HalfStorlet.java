package org.openstack.storlet.half;

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
 * Writes every other byte of its input: bytes 0, 2, 4, ... counted over
 * the whole input (not per read), so {@code abcdefghijklmonp} becomes
 * {@code acegikmn}. Output metadata: the input's. No parameters.
 */
public class HalfStorlet implements IStorlet {
    static final int BUFFER_SIZE = 65536;

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            output.setMetadata(
                new HashMap<String, String>(input.getMetadata()));
            halve(input.getStream(), output.getStream());
        } catch (IOException e) {
            throw new StorletException("HalfStorlet: " + e.getMessage(), e);
        } finally {
            output.close();
        }
    }

    static void halve(InputStream in, OutputStream out) throws IOException {
        byte[] buffer = new byte[BUFFER_SIZE];
        long position = 0;   // index in the whole input of buffer[0]
        int n;
        while ((n = in.read(buffer)) >= 0) {
            // keep the bytes whose overall index is even, compacted in place
            int kept = 0;
            for (int i = (int) (position & 1); i < n; i += 2) {
                buffer[kept++] = buffer[i];
            }
            out.write(buffer, 0, kept);
            position += n;
        }
    }
}
