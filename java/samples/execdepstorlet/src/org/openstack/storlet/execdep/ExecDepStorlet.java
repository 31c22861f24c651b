package org.openstack.storlet.execdep;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;
import org.openstack.storlet.common.StorletUtils;

/**
 * Runs its executable dependency {@code get42} from the storlet's directory
 * and reports the exit code: output metadata = the input's plus
 * {@code depend-ret-code: <exit code>} ({@code 42}). Writes no data. No
 * parameters. Failing to start the program is a {@link StorletException}.
 */
public class ExecDepStorlet implements IStorlet {
    static final String DEPENDENCY = "get42";

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            int code = runDependency(logger);
            HashMap<String, String> md =
                new HashMap<String, String>(inStreams.get(0).getMetadata());
            md.put("depend-ret-code", Integer.toString(code));
            output.setMetadata(md);
        } finally {
            output.close();
        }
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
            logger.emitLog("ExecDepStorlet: " + exe + " exited with " + code);
            return code;
        } catch (IOException e) {
            throw new StorletException("Cannot run " + exe + ": "
                                       + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StorletException("Interrupted while running " + exe, e);
        }
    }
}
