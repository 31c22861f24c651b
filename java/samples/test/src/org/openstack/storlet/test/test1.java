package org.openstack.storlet.test;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
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

/**
 * A storlet for testing the engine: what it does is chosen by the
 * parameter {@code op} (mandatory: without it the call fails with a
 * {@link StorletException} before any metadata is set).
 *
 * <p>Every parameter is first written to the log as {@code key=value}
 * (sorted by key). Then, by {@code op}:
 * <ul>
 * <li>{@code print}: metadata = the input's; writes one line
 *     {@code "<key>    <value>\n"} (four spaces) per parameter, sorted by
 *     key (the engine's {@code storlet_execution_path} included).</li>
 * <li>{@code crash}: throws a {@link NullPointerException} before setting
 *     any metadata (an unchecked exception, as a buggy storlet would).</li>
 * <li>{@code hold}: metadata = the input's, then sleeps {@code seconds}
 *     (decimal, default 100) and closes the output without data. An
 *     interrupt (the engine cancelling the call) ends the sleep with a
 *     {@link StorletException}.</li>
 * <li>anything else: metadata = the input's, no data.</li>
 * </ul>
 * The input's data is not read.
 */
public class test1 implements IStorlet {
    static final double DEFAULT_HOLD_SECONDS = 100;

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        TreeMap<String, String> sorted =
            new TreeMap<String, String>(parameters);
        logger.emitLog("test1: " + sorted.size() + " parameters");
        for (Map.Entry<String, String> p : sorted.entrySet()) {
            logger.emitLog(p.getKey() + "=" + p.getValue());
        }
        String op = sorted.get("op");
        if (op == null) {
            throw new StorletException("test1: missing parameter op");
        }
        if (op.equals("crash")) {
            logger.emitLog("test1: crashing on purpose");
            throw new NullPointerException("test1: op=crash");
        }
        double seconds = op.equals("hold")
            ? holdSeconds(sorted.get("seconds")) : 0;

        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            output.setMetadata(
                new HashMap<String, String>(inStreams.get(0).getMetadata()));
            if (op.equals("print")) {
                print(sorted, output.getStream());
            } else if (op.equals("hold")) {
                hold(seconds, logger);
            }
        } catch (IOException e) {
            throw new StorletException("test1: cannot write output: "
                                       + e.getMessage(), e);
        } finally {
            output.close();
        }
    }

    private static void print(TreeMap<String, String> parameters,
                              OutputStream out) throws IOException {
        StringBuilder text = new StringBuilder();
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            text.append(p.getKey()).append("    ").append(p.getValue())
                .append('\n');
        }
        out.write(text.toString().getBytes(StandardCharsets.UTF_8));
    }

    static double holdSeconds(String value) throws StorletException {
        if (value == null) {
            return DEFAULT_HOLD_SECONDS;
        }
        try {
            double seconds = Double.parseDouble(value.trim());
            if (seconds >= 0 && !Double.isInfinite(seconds)) {
                return seconds;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new StorletException(
            "test1: seconds must be a non-negative number, got '" + value
            + "'");
    }

    private static void hold(double seconds, StorletLogger logger)
            throws StorletException {
        logger.emitLog("test1: holding for " + seconds + " s");
        try {
            Thread.sleep((long) (seconds * 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StorletException("test1: hold interrupted", e);
        }
        logger.emitLog("test1: hold done");
    }
}
