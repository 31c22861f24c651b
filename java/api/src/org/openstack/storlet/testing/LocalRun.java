package org.openstack.storlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
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
import org.openstack.storlet.common.StorletUtils;

/**
 * Runs a Java storlet once on local files, without Swift: what
 * {@code storlets test my-1.0.jar} runs.
 *
 * <pre>
 * java -cp storlets-api.jar:my-1.0.jar org.openstack.storlet.testing.LocalRun
 *     MAIN OUTPUT [--param KEY=VALUE]... [--input FILE]...
 * </pre>
 *
 * The inputs are streamed from the files (standard input without any);
 * the output goes to OUTPUT ({@code -}: standard output) through the
 * engine's own output class, so the rules hold (metadata once, before any
 * data). The storlet's log lines and then {@code metadata: {...}} go to
 * standard error. Exit code 0, or 1 if the storlet failed, 2 on bad usage.
 */
public final class LocalRun {
    private LocalRun() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2 || args.length % 2 != 0) {
            usage();
        }
        Map<String, String> params = new HashMap<String, String>();
        ArrayList<StorletInputStream> inputs =
            new ArrayList<StorletInputStream>();
        for (int i = 2; i < args.length; i += 2) {
            if (args[i].equals("--input")) {
                inputs.add(new StorletInputStream(
                    new FileInputStream(args[i + 1]),
                    new HashMap<String, String>()));
            } else if (args[i].equals("--param")
                       && args[i + 1].contains("=")) {
                String[] kv = args[i + 1].split("=", 2);
                params.put(kv[0], kv[1]);
            } else {
                usage();
            }
        }
        if (inputs.isEmpty()) {
            inputs.add(new StorletInputStream(
                (InputStream) new FileInputStream(FileDescriptor.in),
                new HashMap<String, String>()));
        }
        System.exit(run(args[0], args[1], params, inputs));
    }

    private static int run(String main, String output,
                           Map<String, String> params,
                           ArrayList<StorletInputStream> inputs)
            throws IOException {
        IStorlet storlet;
        Class<?> cls;
        try {
            cls = Class.forName(main);
            storlet = (IStorlet) cls.getDeclaredConstructor().newInstance();
        } catch (Exception | LinkageError e) {
            System.err.println("cannot load storlet " + main + ": " + e);
            return 1;
        }
        params.put("storlet_execution_path", StorletUtils.getClassFolder(cls));
        OutputStream data = output.equals("-")
            ? new FileOutputStream(FileDescriptor.out)
            : new FileOutputStream(output);
        StringOutputStream metadata = new StringOutputStream();
        StorletObjectOutputStream out = new StorletObjectOutputStream(
            data, new HashMap<String, String>(), metadata);
        ArrayList<StorletOutputStream> outputs =
            new ArrayList<StorletOutputStream>();
        outputs.add(out);
        StorletLogger logger = new StorletLogger(
            new FileOutputStream(FileDescriptor.err));
        String error = null;
        try {
            storlet.invoke(inputs, outputs, params, logger);
        } catch (StorletException e) {
            error = "StorletException: " + e.getMessage();
        } catch (Throwable t) {  // storlet code may throw anything
            StringWriter trace = new StringWriter();
            t.printStackTrace(new PrintWriter(trace));
            System.err.print(trace);
            error = t.toString();
        }
        if (error == null && !out.isMetadataSet()) {
            error = "storlet returned without setting the output metadata";
        }
        for (StorletInputStream in : inputs) {
            in.close();
        }
        out.close();
        if (error != null) {
            System.err.println("storlet failed: " + error);
            return 1;
        }
        System.err.println("metadata: " + metadata);
        return 0;
    }

    private static void usage() {
        System.err.println("usage: LocalRun MAIN OUTPUT [--param KEY=VALUE]"
                           + "... [--input FILE]...");
        System.exit(2);
    }

    /** The metadata channel, kept as text. */
    private static final class StringOutputStream extends OutputStream {
        private final ByteArrayOutputStream bytes =
            new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            bytes.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            bytes.write(b, off, len);
        }

        @Override
        public String toString() {
            return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
        }
    }
}
