package org.openstack.storlet.csv;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/**
 * SQL-like push-down over one partition of a CSV object: keeps the
 * records that match {@code where_clause} and writes the columns named by
 * {@code selected_columns}.
 *
 * <p>Input records are lines (a trailing {@code '\r'} is dropped); their
 * columns are separated by {@code ','} (no quoting). Parameters:
 * <ul>
 * <li>{@code start}, {@code end}, {@code max_record_line},
 *     {@code first_partition} (mandatory): the partition, exactly as for
 *     the partitions identity sample. The input is the window
 *     {@code [start, end + max_record_line]}; the partition processes the
 *     records whose preceding newline lies in {@code [start, end]} (both
 *     inclusive) plus, for the first partition, the record at
 *     {@code start}. Partitions {@code [0, e0], [e0 + 1, e1], ...} covering
 *     the object process every record exactly once (see
 *     {@link PartitionInputStream}).</li>
 * <li>{@code selected_columns}: comma-separated 0-based column indexes to
 *     write, in that order; missing or empty = the record unchanged. A
 *     record lacking a selected column gets an empty value for it.</li>
 * <li>{@code where_clause}: which records to keep (grammar in
 *     {@link WhereClause}), e.g.
 *     {@code And(EqualTo(6,FRA),StringStartsWith(4,2015))}; several
 *     predicates separated by spaces must all match; {@code XYZYX} stands
 *     for a space. Missing or empty = every record. A record lacking a
 *     column a comparison needs does not satisfy that comparison.</li>
 * <li>{@code delimiter}: written after every output record; missing or
 *     empty = {@code "\n"}.</li>
 * </ul>
 * Output metadata: the input's. Bad or missing parameters are a
 * {@link StorletException} raised before any metadata is set. Records are
 * handled as bytes, so any encoding compatible with ASCII separators
 * passes through unchanged.
 */
public class CSVStorlet implements IStorlet {
    static final int BUFFER_SIZE = 65536;
    static final String[] MANDATORY =
        {"start", "end", "max_record_line", "first_partition"};

    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            checkMandatory(parameters);
            long start = offset(parameters, "start");
            long end = offset(parameters, "end");
            offset(parameters, "max_record_line");
            boolean first = bool(parameters, "first_partition");
            if (end < start) {
                throw new StorletException("CSVStorlet: end (" + end
                    + ") must not be before start (" + start + ")");
            }
            Query query = new Query(
                where(parameters.get("where_clause")),
                columns(parameters.get("selected_columns")),
                delimiter(parameters.get("delimiter")));
            logger.emitLog("CSVStorlet: partition [" + start + ", " + end
                           + "], first=" + first + ", " + query);

            output.setMetadata(
                new HashMap<String, String>(input.getMetadata()));
            OutputStream out =
                new BufferedOutputStream(output.getStream(), BUFFER_SIZE);
            PartitionInputStream records = new PartitionInputStream(
                input.getStream(), start, end, first);
            long[] counts = query.run(records, out);
            out.flush();
            logger.emitLog("CSVStorlet: " + counts[1] + " of " + counts[0]
                           + " records matched");
        } catch (IOException e) {
            throw new StorletException("CSVStorlet: " + e.getMessage(), e);
        } finally {
            output.close();
        }
    }

    private static void checkMandatory(Map<String, String> parameters)
            throws StorletException {
        StringBuilder missing = new StringBuilder();
        for (String name : MANDATORY) {
            if (parameters.get(name) == null) {
                missing.append(missing.length() == 0 ? "" : ", ").append(name);
            }
        }
        if (missing.length() > 0) {
            throw new StorletException(
                "CSVStorlet: missing mandatory parameter(s): " + missing);
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
        throw new StorletException("CSVStorlet: " + name
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
        throw new StorletException("CSVStorlet: " + name
            + " must be true or false, got '" + value + "'");
    }

    static Predicate where(String clause) throws StorletException {
        try {
            return WhereClause.parse(clause);
        } catch (IllegalArgumentException e) {
            throw new StorletException(
                "CSVStorlet: invalid where_clause: " + e.getMessage(), e);
        }
    }

    static int[] columns(String value) throws StorletException {
        if (value == null || value.trim().isEmpty()) {
            return null;
        }
        String[] items = value.split(",", -1);
        int[] columns = new int[items.length];
        for (int i = 0; i < items.length; i++) {
            String item = items[i].trim();
            try {
                columns[i] = Integer.parseInt(item);
            } catch (NumberFormatException e) {
                columns[i] = -1;
            }
            if (columns[i] < 0) {
                throw new StorletException("CSVStorlet: selected_columns must"
                    + " be comma-separated column indexes (0, 1, ...), got '"
                    + value + "'");
            }
        }
        return columns;
    }

    static byte[] delimiter(String value) {
        if (value == null || value.isEmpty()) {
            value = "\n";
        }
        return value.getBytes(StandardCharsets.UTF_8);
    }

    /** One call's filter and projection; keeps no state between calls. */
    static final class Query {
        private final Predicate predicate;   // null: every record
        private final int[] columns;         // null: the whole record
        private final byte[] delimiter;

        Query(Predicate predicate, int[] columns, byte[] delimiter) {
            this.predicate = predicate;
            this.columns = columns;
            this.delimiter = delimiter;
        }

        /**
         * Filters every record of {@code in} into {@code out}; returns
         * {records seen, records written}.
         */
        long[] run(InputStream in, OutputStream out) throws IOException {
            long[] counts = new long[2];
            byte[] buffer = new byte[BUFFER_SIZE];
            byte[] pending = new byte[256];   // a record split across reads
            int pendingLength = 0;
            int n;
            while ((n = in.read(buffer)) >= 0) {
                int from = 0;
                for (int i = 0; i < n; i++) {
                    if (buffer[i] != '\n') {
                        continue;
                    }
                    if (pendingLength == 0) {
                        record(buffer, from, i - from, out, counts);
                    } else {
                        pending = append(pending, pendingLength, buffer, from,
                                         i - from);
                        pendingLength += i - from;
                        record(pending, 0, pendingLength, out, counts);
                        pendingLength = 0;
                    }
                    from = i + 1;
                }
                pending = append(pending, pendingLength, buffer, from,
                                 n - from);
                pendingLength += n - from;
            }
            if (pendingLength > 0) {
                record(pending, 0, pendingLength, out, counts);
            }
            return counts;
        }

        private static byte[] append(byte[] to, int length, byte[] from,
                                     int offset, int count) {
            if (length + count > to.length) {
                to = Arrays.copyOf(to, Math.max(2 * to.length, length + count));
            }
            System.arraycopy(from, offset, to, length, count);
            return to;
        }

        private void record(byte[] b, int off, int len, OutputStream out,
                            long[] counts) throws IOException {
            counts[0]++;
            if (len > 0 && b[off + len - 1] == '\r') {
                len--;
            }
            if (predicate == null && columns == null) {
                out.write(b, off, len);
            } else {
                String[] fields = new String(b, off, len,
                                             StandardCharsets.ISO_8859_1)
                    .split(",", -1);
                if (predicate != null && !predicate.matches(fields)) {
                    return;
                }
                if (columns == null) {
                    out.write(b, off, len);
                } else {
                    out.write(project(fields)
                              .getBytes(StandardCharsets.ISO_8859_1));
                }
            }
            out.write(delimiter);
            counts[1]++;
        }

        private String project(String[] fields) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < columns.length; i++) {
                if (i > 0) {
                    line.append(',');
                }
                if (columns[i] < fields.length) {
                    line.append(fields[columns[i]]);
                }
            }
            return line.toString();
        }

        @Override
        public String toString() {
            return "where=" + (predicate == null ? "(all)" : predicate)
                + ", columns=" + (columns == null ? "(all)"
                                                  : Arrays.toString(columns));
        }
    }
}
