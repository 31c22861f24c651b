package org.openstack.storlet;

import java.io.IOException;
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
 * An identity storlet for one partition of a line-oriented file: writes,
 * unchanged, the whole records (lines) the partition owns, so that
 * partitions processed separately neither lose nor repeat a record.
 *
 * <p>Parameters (all mandatory):
 * <ul>
 * <li>{@code start}, {@code end}: the partition, absolute byte offsets,
 *     both inclusive ({@code 0 <= start <= end}).</li>
 * <li>{@code max_record_line}: the longest record, in bytes with its
 *     newline ({@code >= 0}).</li>
 * <li>{@code first_partition}: {@code true} or {@code false}.</li>
 * </ul>
 * The client runs the storlet with
 * {@code X-Storlet-Range: bytes=<start>-<end + max_record_line>}, so the
 * input is that window of the file. The partition owns the records whose
 * preceding newline lies in {@code [start, end]}, plus, for the first
 * partition, the record beginning at {@code start}: it drops the first
 * (possibly partial) line unless it is the first partition, then writes
 * whole lines up to and including the first newline after {@code end}.
 * So when {@code end} is the last byte before a record, that record is
 * written too. Partitions {@code [0, e0], [e0 + 1, e1], ...} covering the
 * file together write it exactly once (see {@link PartitionInputStream}).
 *
 * <p>Output metadata: empty. When a parameter is missing the storlet logs
 * which, sets empty metadata and writes nothing; a parameter with a bad
 * value is a {@link StorletException}. Unlike upstream, records are copied
 * as bytes (a last line without newline stays without one).
 */
public class PartitionsIdentityStorlet implements IStorlet {
    static final int BUFFER_SIZE = 65536;
    static final String[] MANDATORY =
        {"start", "end", "max_record_line", "first_partition"};

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            StringBuilder missing = new StringBuilder();
            for (String name : MANDATORY) {
                if (parameters.get(name) == null) {
                    missing.append(missing.length() == 0 ? "" : ", ")
                           .append(name);
                }
            }
            if (missing.length() > 0) {
                logger.emitLog("PartitionsIdentityStorlet: missing mandatory"
                               + " parameter(s): " + missing);
                output.setMetadata(new HashMap<String, String>());
                return;
            }
            long start = offset(parameters, "start");
            long end = offset(parameters, "end");
            long maxRecordLine = offset(parameters, "max_record_line");
            boolean first = bool(parameters, "first_partition");
            if (end < start) {
                throw new StorletException("PartitionsIdentityStorlet: end ("
                    + end + ") must not be before start (" + start + ")");
            }

            output.setMetadata(new HashMap<String, String>());
            PartitionInputStream records = new PartitionInputStream(
                inStreams.get(0).getStream(), start, end, first);
            OutputStream out = output.getStream();
            byte[] buffer = new byte[BUFFER_SIZE];
            int n;
            while ((n = records.read(buffer)) >= 0) {
                out.write(buffer, 0, n);
            }
            if (records.endedInsideRecord()
                    && records.inputPosition() > end + maxRecordLine) {
                logger.emitLog("PartitionsIdentityStorlet: the last record"
                    + " was cut at the end of the window: is a record longer"
                    + " than max_record_line (" + maxRecordLine + ")?");
            }
            logger.emitLog("PartitionsIdentityStorlet: wrote "
                           + records.emitted() + " bytes");
        } catch (IOException e) {
            throw new StorletException("PartitionsIdentityStorlet: "
                                       + e.getMessage(), e);
        } finally {
            output.close();
        }
    }

    private static long offset(Map<String, String> parameters, String name)
            throws StorletException {
        String value = parameters.get(name).trim();
        try {
            long n = Long.parseLong(value);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new StorletException("PartitionsIdentityStorlet: " + name
            + " must be a non-negative integer, got '" + value + "'");
    }

    private static boolean bool(Map<String, String> parameters, String name)
            throws StorletException {
        String value = parameters.get(name).trim();
        if (value.equalsIgnoreCase("true")) {
            return true;
        }
        if (value.equalsIgnoreCase("false")) {
            return false;
        }
        throw new StorletException("PartitionsIdentityStorlet: " + name
            + " must be true or false, got '" + value + "'");
    }
}
