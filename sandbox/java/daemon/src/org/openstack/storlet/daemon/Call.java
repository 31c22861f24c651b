package org.openstack.storlet.daemon;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.RangeStorletInputStream;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/**
 * One invocation: the streams made from its descriptors, the storlet's
 * {@code invoke} on a pool thread, then everything closed and the verdict
 * sent to the front.
 *
 * <p>Every descriptor is owned by a stream from the constructor on, so
 * {@link #closeStreams} releases all of them whatever happened. Closing
 * the metadata channel too (the upstream engine leaves it open) lets the
 * gateway see at once that a failed storlet sent no metadata.
 */
final class Call implements Runnable {
    private final int id;
    private final HashMap<String, String> params;
    private final ArrayList<StorletInputStream> inputs =
        new ArrayList<StorletInputStream>();
    private final StorletObjectOutputStream output;
    private final StorletLogger logger;
    private final CappedOutputStream log;   // the logger's, and prints
    private final IStorlet storlet;
    private final FrontChannel front;
    private final Runnable onEnd;
    private Thread thread;          // guarded by this
    private boolean cancelled;      // guarded by this

    /** Takes ownership of {@code fds}: output, metadata, log, inputs. */
    Call(Messages.Execute message, int[] fds, IStorlet storlet,
         long maxLogSize, FrontChannel front, Runnable onEnd)
            throws IOException {
        this.id = message.id;
        this.params = message.params;
        this.storlet = storlet;
        this.front = front;
        this.onEnd = onEnd;
        if (fds.length != 3 + message.inputs.size()) {
            FrontChannel.closeAll(fds);
            throw new IOException("execute " + id + ": expected "
                                  + (3 + message.inputs.size())
                                  + " descriptors, got " + fds.length);
        }
        // Streams own the descriptors from here on (creating them cannot
        // fail), so a failure below closes every one of them.
        FileOutputStream data = new FileOutputStream(
            NativeFds.descriptor(fds[0]));
        FileOutputStream metadata = new FileOutputStream(
            NativeFds.descriptor(fds[1]));
        FileOutputStream logFile = new FileOutputStream(
            NativeFds.descriptor(fds[2]));
        List<FileInputStream> files = new ArrayList<FileInputStream>();
        for (int i = 3; i < fds.length; i++) {
            files.add(new FileInputStream(NativeFds.descriptor(fds[i])));
        }
        output = new StorletObjectOutputStream(
            data, new HashMap<String, String>(), metadata);
        this.log = new CappedOutputStream(logFile, maxLogSize);
        logger = new StorletLogger(this.log);
        try {
            for (int i = 0; i < files.size(); i++) {
                Messages.InputSpec spec = message.inputs.get(i);
                inputs.add(spec.start < 0 && spec.end < 0
                    ? new StorletInputStream(files.get(i), spec.metadata)
                    : window(files.get(i), spec));
            }
        } catch (IOException | RuntimeException e) {
            for (FileInputStream file : files) {
                file.close();
            }
            output.close();
            output.closeMD();
            logger.close();
            throw e;
        }
    }

    private static StorletInputStream window(FileInputStream file,
                                             Messages.InputSpec spec)
            throws IOException {
        FileChannel channel = file.getChannel();
        try {
            long start = Math.max(0, spec.start);
            long end = spec.end < 0 ? channel.size() : spec.end;
            return new RangeStorletInputStream(channel, spec.metadata,
                                               start, end);
        } catch (IOException e) {
            file.close();
            throw e;
        }
    }

    /** Interrupts the storlet's thread (a call not started never runs). */
    synchronized void cancel() {
        cancelled = true;
        if (thread != null) {
            thread.interrupt();
        }
    }

    @Override
    public void run() {
        String error;
        synchronized (this) {
            thread = Thread.currentThread();
            error = cancelled ? "Storlet call cancelled before it started"
                              : null;
        }
        try {
            if (error == null) {
                error = invoke();
            }
        } finally {
            closeStreams();
            synchronized (this) {
                thread = null;
            }
            Thread.interrupted();  // a cancel must not reach the next call
        }
        try {
            front.send(Messages.done(id, error));
        } catch (IOException e) {
            System.err.println("storlets java daemon: cannot reply for call "
                               + id + ": " + e);
        }
        onEnd.run();
    }

    /** The call cannot run: release its descriptors, report why. */
    void abandon(String error) {
        closeStreams();
        try {
            front.send(Messages.done(id, error));
        } catch (IOException e) {
            System.err.println("storlets java daemon: cannot reply for call "
                               + id + ": " + e);
        }
    }

    /** Runs the storlet; returns null, or why the call failed. */
    private String invoke() {
        ArrayList<StorletOutputStream> outputs =
            new ArrayList<StorletOutputStream>();
        outputs.add(output);
        String error = null;
        logger.emitLog("About to invoke storlet");
        CallOutput.route(log);
        try {
            storlet.invoke(inputs, outputs, params, logger);
            logger.emitLog("Storlet invocation done");
        } catch (StorletException e) {
            error = "StorletException: " + e.getMessage();
            logger.emitLog("Storlet failed: " + error);
        } catch (Throwable t) {  // storlet code may throw anything
            error = t.toString();
            logger.emitLog("Storlet failed: " + stackTrace(t));
        }
        CallOutput.route(null);
        if (error == null && !output.isMetadataSet()) {
            error = "Storlet returned without setting the output metadata";
            logger.emitLog(error);
        }
        return error == null ? null : oneLine(error);
    }

    private void closeStreams() {
        for (StorletInputStream in : inputs) {
            in.close();
        }
        output.close();
        output.closeMD();
        logger.close();
    }

    private static String stackTrace(Throwable t) {
        StringWriter text = new StringWriter();
        t.printStackTrace(new PrintWriter(text));
        return text.toString().trim();
    }

    private static String oneLine(String text) {
        String line = text.replaceAll("\\s+", " ").trim();
        return line.length() > 2000 ? line.substring(0, 2000) : line;
    }
}
