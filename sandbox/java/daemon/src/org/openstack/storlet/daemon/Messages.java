package org.openstack.storlet.daemon;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * The front's messages, in a binary form that needs no JSON library here.
 * Big-endian; a string is an int byte count and UTF-8 bytes; a map is an
 * int count and that many key, value strings. The first byte names the
 * message:
 *
 * <pre>
 * front -> JVM
 *   'X' execute: int id, map params, int n, n x (map metadata, long start,
 *       long end; -1 = none). Descriptors: output, metadata, log, then the
 *       n inputs.
 *   'C' cancel:  int id
 * JVM -> front
 *   'R' ready:   boolean ok, string error
 *   'D' done:    int id, boolean ok, string error
 * </pre>
 *
 * The Python side is storlets_agent/java_front.py.
 */
final class Messages {
    static final byte EXECUTE = 'X';
    static final byte CANCEL = 'C';
    static final byte READY = 'R';
    static final byte DONE = 'D';

    private Messages() {
    }

    /** One input of an execute: metadata and optional window. */
    static final class InputSpec {
        final HashMap<String, String> metadata;
        final long start;
        final long end;

        InputSpec(HashMap<String, String> metadata, long start, long end) {
            this.metadata = metadata;
            this.start = start;
            this.end = end;
        }
    }

    /** A decoded execute. */
    static final class Execute {
        final int id;
        final HashMap<String, String> params;
        final List<InputSpec> inputs;

        Execute(int id, HashMap<String, String> params,
                List<InputSpec> inputs) {
            this.id = id;
            this.params = params;
            this.inputs = inputs;
        }
    }

    static DataInputStream reader(byte[] body) {
        return new DataInputStream(new ByteArrayInputStream(body, 1,
                                                            body.length - 1));
    }

    static Execute readExecute(byte[] body) throws IOException {
        DataInputStream in = reader(body);
        int id = in.readInt();
        HashMap<String, String> params = readMap(in);
        int n = in.readInt();
        if (n < 1 || n > 1024) {
            throw new IOException("bad input count " + n);
        }
        List<InputSpec> inputs = new ArrayList<InputSpec>(n);
        for (int i = 0; i < n; i++) {
            HashMap<String, String> md = readMap(in);
            inputs.add(new InputSpec(md, in.readLong(), in.readLong()));
        }
        return new Execute(id, params, inputs);
    }

    static int readCancel(byte[] body) throws IOException {
        return reader(body).readInt();
    }

    static byte[] ready(String error) {
        return encode(READY, null, error);
    }

    static byte[] done(int id, String error) {
        return encode(DONE, id, error);
    }

    private static byte[] encode(byte type, Integer id, String error) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeByte(type);
            if (id != null) {
                out.writeInt(id);
            }
            out.writeBoolean(error == null);
            writeString(out, error == null ? "" : error);
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);  // in memory: cannot happen
        }
    }

    private static HashMap<String, String> readMap(DataInputStream in)
            throws IOException {
        int n = in.readInt();
        if (n < 0) {
            throw new IOException("bad map size " + n);
        }
        HashMap<String, String> map = new HashMap<String, String>();
        for (int i = 0; i < n; i++) {
            map.put(readString(in), readString(in));
        }
        return map;
    }

    private static String readString(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > FrontChannel.MAX_FRAME) {
            throw new IOException("bad string size " + n);
        }
        byte[] bytes = new byte[n];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static void writeString(DataOutputStream out, String s)
            throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }
}
