package agenttest;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/** Storlets the Java agent tests run (tests/unit/sandbox/test_java_agent.py). */
public final class Storlets {
    private Storlets() {
    }

    static StorletObjectOutputStream out(ArrayList<StorletOutputStream> o) {
        return (StorletObjectOutputStream) o.get(0);
    }

    static void copy(InputStream in, OutputStream out) throws IOException {
        byte[] buffer = new byte[5];   // small: many reads per call
        int n;
        while ((n = in.read(buffer)) != -1) {
            out.write(buffer, 0, n);
        }
    }

    /** Meta: first input's plus "inputs" and every parameter; output: all
     * inputs in turn. */
    public static class Echo implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            HashMap<String, String> md =
                new HashMap<String, String>(ins.get(0).getMetadata());
            md.put("inputs", String.valueOf(ins.size()));
            for (Map.Entry<String, String> e : params.entrySet()) {
                md.put("param-" + e.getKey(), e.getValue());
            }
            out(outs).setMetadata(md);
            log.emitLog("echo " + ins.size() + " inputs");
            try {
                for (StorletInputStream in : ins) {
                    copy(in.getStream(), out(outs).getStream());
                }
            } catch (IOException e) {
                throw new StorletException(e.toString());
            }
            out(outs).close();
        }
    }

    /** Meta: its scratch directory and what was in it on arrival; writes
     * params["mib"] MiB there, then sleeps params["linger"] seconds. */
    public static class Scratch implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            String dir = params.get("storlet_scratch_dir");
            java.io.File here = new java.io.File(dir);
            HashMap<String, String> md = new HashMap<String, String>();
            md.put("dir", dir);
            md.put("found", String.valueOf(here.list().length));
            out(outs).setMetadata(md);
            try {
                byte[] mib = new byte[1024 * 1024];
                int count = Integer.parseInt(params.getOrDefault("mib", "0"));
                for (int i = 0; i < count; i++) {
                    try (java.io.FileOutputStream f = new java.io.FileOutputStream(
                            new java.io.File(here, "big" + i))) {
                        f.write(mib);
                    }
                }
                Thread.sleep((long) (Double.parseDouble(
                    params.getOrDefault("linger", "0")) * 1000));
            } catch (IOException | InterruptedException e) {
                throw new StorletException(e.toString());
            }
            out(outs).close();
        }
    }

    /** Throws an unchecked exception. */
    public static class Crash implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log) {
            log.emitLog("about to crash");
            Object nothing = params.get("no such parameter");
            nothing.toString();
        }
    }

    /** Sets metadata, writes "started", then sleeps until interrupted. */
    public static class Hold implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            out(outs).setMetadata(new HashMap<String, String>());
            try {
                out(outs).getStream().write("started\n".getBytes("UTF-8"));
                Thread.sleep(60000);
            } catch (InterruptedException e) {
                log.emitLog("interrupted");
                throw new StorletException("interrupted");
            } catch (IOException e) {
                throw new StorletException(e.toString());
            }
        }
    }

    /** Spins for params["seconds"], deaf to interrupts. */
    public static class Busy implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            out(outs).setMetadata(new HashMap<String, String>());
            long end = System.nanoTime() + (long) (Double.parseDouble(
                params.get("seconds")) * 1e9);
            long spins = 0;
            while (System.nanoTime() < end) {
                spins++;
                Thread.interrupted();
            }
            log.emitLog("spun " + spins);
        }
    }

    private static final ConcurrentHashMap<String, CountDownLatch> MEETINGS =
        new ConcurrentHashMap<String, CountDownLatch>();

    /** Succeeds only if params["count"] calls of one meeting run at once. */
    public static class Rendezvous implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            CountDownLatch latch = MEETINGS.computeIfAbsent(
                params.get("meeting"),
                k -> new CountDownLatch(Integer.parseInt(params.get("count"))));
            latch.countDown();
            try {
                if (!latch.await(10, TimeUnit.SECONDS)) {
                    throw new StorletException("alone");
                }
            } catch (InterruptedException e) {
                throw new StorletException("interrupted");
            }
            HashMap<String, String> md = new HashMap<String, String>();
            md.put("thread", Thread.currentThread().getName());
            out(outs).setMetadata(md);
        }
    }

    /** Returns without setting metadata. */
    public static class Silent implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log) {
        }
    }

    /** Logs params["lines"] lines of 100 bytes. */
    public static class LogFlood implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            char[] line = new char[99];
            java.util.Arrays.fill(line, 'x');
            for (int i = 0; i < Integer.parseInt(params.get("lines")); i++) {
                log.emitLog(new String(line));
            }
            out(outs).setMetadata(new HashMap<String, String>());
        }
    }

    /** Starts /bin/sleep and leaves it running; writes its pid. */
    public static class Orphan implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            out(outs).setMetadata(new HashMap<String, String>());
            try {
                Process p = new ProcessBuilder("/bin/sleep", "60").start();
                out(outs).getStream().write(
                    String.valueOf(p.pid()).getBytes("UTF-8"));
            } catch (IOException e) {
                throw new StorletException(e.toString());
            }
        }
    }

    /** Allocates until the heap is exhausted. */
    public static class MemoryBomb implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log) {
            ArrayList<long[]> hoard = new ArrayList<long[]>();
            while (true) {
                hoard.add(new long[1 << 20]);
            }
        }
    }

    /** Calls System.exit: the whole JVM goes. */
    public static class Exit implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log) {
            System.exit(3);
        }
    }

    /** Prints on System.out, System.err and from a thread of its own. */
    public static class Printer implements IStorlet {
        @Override
        public void invoke(ArrayList<StorletInputStream> ins,
                           ArrayList<StorletOutputStream> outs,
                           Map<String, String> params, StorletLogger log)
                throws StorletException {
            String tag = params.get("tag");
            System.out.println("out " + tag);
            System.err.println("err " + tag);
            Thread helper = new Thread(
                () -> System.out.println("thread " + tag));
            helper.start();
            try {
                helper.join();
            } catch (InterruptedException e) {
                throw new StorletException("interrupted");
            }
            out(outs).setMetadata(new HashMap<String, String>());
        }
    }

    /** Not a storlet at all. */
    public static class NotAStorlet {
    }
}
