package org.openstack.storlet.identity;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.common.StorletUtils;

/**
 * Copies its input to its output unchanged, byte for byte.
 *
 * <p>Output metadata: the input's metadata, plus {@code Parameter-<p>: <v>}
 * for every parameter {@code p=v} (all of them, including the engine's
 * {@code storlet_execution_path}).
 *
 * <p>Parameters (all optional):
 * <ul>
 * <li>{@code execute=true}: runs the executable dependency {@code get42}
 *     from the storlet's directory before copying and adds
 *     {@code Execution-Result: <exit code>} to the metadata.</li>
 * <li>{@code chunk_size}: bytes per read and write, 1 to 16 MiB (default
 *     65536). Anything else fails with a {@link StorletException}.</li>
 * <li>{@code double=true}: writes every chunk twice.</li>
 * </ul>
 *
 * <p>Unlike the upstream sample, the copy is binary-safe (NUL bytes are
 * kept). Chunks are filled completely before they are written, so with
 * {@code double=true} the output does not depend on how the input happens
 * to be split into reads.
 */
public class IdentityStorlet implements IStorlet {
    static final int DEFAULT_CHUNK_SIZE = 65536;
    static final int MAX_CHUNK_SIZE = 16 * 1024 * 1024;
    static final String DEPENDENCY = "get42";

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            int chunkSize = chunkSize(parameters.get("chunk_size"));
            boolean twice = isTrue(parameters.get("double"));

            HashMap<String, String> md =
                new HashMap<String, String>(input.getMetadata());
            for (Map.Entry<String, String> p
                     : new TreeMap<String, String>(parameters).entrySet()) {
                md.put("Parameter-" + p.getKey(), p.getValue());
            }
            if (isTrue(parameters.get("execute"))) {
                int code = runDependency(logger);
                md.put("Execution-Result", Integer.toString(code));
            }
            output.setMetadata(md);
            copy(input.getStream(), output.getStream(), chunkSize, twice);
            logger.emitLog("IdentityStorlet: copy done");
        } catch (IOException e) {
            throw new StorletException("IdentityStorlet: copy failed: "
                                       + e.getMessage(), e);
        } finally {
            output.close();
        }
    }

    static boolean isTrue(String value) {
        return value != null && value.trim().equalsIgnoreCase("true");
    }

    static int chunkSize(String value) throws StorletException {
        if (value == null) {
            return DEFAULT_CHUNK_SIZE;
        }
        int size;
        try {
            size = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new StorletException(
                "chunk_size must be an integer, got '" + value + "'");
        }
        if (size <= 0 || size > MAX_CHUNK_SIZE) {
            throw new StorletException("chunk_size must be between 1 and "
                                       + MAX_CHUNK_SIZE + ", got " + size);
        }
        return size;
    }

    private int runDependency(StorletLogger logger) throws StorletException {
        String folder = StorletUtils.getClassFolder(getClass());
        if (folder == null) {
            throw new StorletException("Cannot locate the storlet directory");
        }
        File exe = new File(folder, DEPENDENCY);
        try {
            Process process = new ProcessBuilder(exe.getPath())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
            process.getOutputStream().close();
            int code = process.waitFor();
            logger.emitLog("IdentityStorlet: " + exe + " exited with " + code);
            return code;
        } catch (IOException e) {
            throw new StorletException("Cannot run " + exe + ": "
                                       + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StorletException("Interrupted while running " + exe, e);
        }
    }

    /** Copies in whole chunks (the last may be short), each once or twice. */
    static void copy(InputStream in, OutputStream out, int chunkSize,
                     boolean twice) throws IOException {
        byte[] chunk = new byte[chunkSize];
        while (true) {
            int filled = 0;
            while (filled < chunkSize) {
                int n = in.read(chunk, filled, chunkSize - filled);
                if (n < 0) {
                    break;
                }
                filled += n;
            }
            if (filled == 0) {
                return;
            }
            out.write(chunk, 0, filled);
            if (twice) {
                out.write(chunk, 0, filled);
            }
            if (filled < chunkSize) {
                return;   // end of input
            }
        }
    }
}
