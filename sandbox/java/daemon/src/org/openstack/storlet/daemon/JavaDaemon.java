package org.openstack.storlet.daemon;

import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.openstack.storlet.common.IStorlet;

/**
 * The warm JVM of one Java storlet version in a sandbox.
 *
 * <p>Started by the Python front ({@code storlets_agent/java_front.py}),
 * which owns the daemon's socket and speaks the gateway's protocol. This
 * JVM only sees the front, on descriptor {@code <socket-fd>}: it loads
 * {@code Main} once, says it is ready, then runs each execute on a pool
 * thread ({@code <threads>} at once; further calls wait) and reports each
 * verdict. A cancel interrupts the call's thread. End of stream from the
 * front ends the JVM.
 *
 * <p>Usage: {@code JavaDaemon <socket-fd> <main-class> <threads>
 * <max-log-bytes>}; the class path holds the API jar, this jar, the
 * storlet jar and its dependency jars.
 */
public final class JavaDaemon {
    private static final long IDLE_THREAD_SECONDS = 10;
    private final FrontChannel front;
    private final IStorlet storlet;
    private final ExecutorService pool;
    private final long maxLogSize;
    private final ConcurrentHashMap<Integer, Call> calls =
        new ConcurrentHashMap<Integer, Call>();

    private JavaDaemon(FrontChannel front, IStorlet storlet, int threads,
                       long maxLogSize) {
        this.front = front;
        this.storlet = storlet;
        this.maxLogSize = maxLogSize;
        // Threads come with calls and go after IDLE_THREAD_SECONDS without
        // one: an idle JVM holds only its own few (the sandbox's pids limit
        // counts threads).
        ThreadPoolExecutor executor = new ThreadPoolExecutor(
            threads, threads, IDLE_THREAD_SECONDS, TimeUnit.SECONDS,
            new LinkedBlockingQueue<Runnable>(), new ThreadFactory() {
                private final AtomicInteger count = new AtomicInteger();

                @Override
                public Thread newThread(Runnable r) {
                    Thread t = new Thread(r,
                                          "storlet-" + count.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                }
            });
        executor.allowCoreThreadTimeOut(true);
        this.pool = executor;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: JavaDaemon <socket-fd> <main-class> "
                               + "<threads> <max-log-bytes>");
            System.exit(2);
        }
        FrontChannel front = new FrontChannel(Integer.parseInt(args[0]));
        IStorlet storlet;
        try {
            storlet = load(args[1]);
        } catch (Throwable t) {  // storlet code may throw anything
            front.send(Messages.ready("Failed to load storlet " + args[1]
                                      + ": " + t));
            System.exit(4);
            return;
        }
        CallOutput.install();
        front.send(Messages.ready(null));
        new JavaDaemon(front, storlet, Integer.parseInt(args[2]),
                       Long.parseLong(args[3])).serve();
        System.exit(0);
    }

    static IStorlet load(String main) throws Exception {
        Class<?> cls = Class.forName(main, true,
                                     ClassLoader.getSystemClassLoader());
        if (!IStorlet.class.isAssignableFrom(cls)) {
            throw new ClassCastException(
                main + " does not implement "
                + IStorlet.class.getName());
        }
        return (IStorlet) cls.getDeclaredConstructor().newInstance();
    }

    private void serve() throws IOException {
        while (true) {
            FrontChannel.Frame frame = front.read();
            if (frame == null) {
                return;   // the front is gone, or wants us gone
            }
            if (frame.body.length == 0) {
                FrontChannel.closeAll(frame.fds);
                throw new IOException("empty frame");
            }
            switch (frame.body[0]) {
                case Messages.EXECUTE:
                    execute(frame);
                    break;
                case Messages.CANCEL:
                    FrontChannel.closeAll(frame.fds);
                    Call call = calls.get(Messages.readCancel(frame.body));
                    if (call != null) {
                        call.cancel();
                    }
                    break;
                default:
                    FrontChannel.closeAll(frame.fds);
                    throw new IOException("unknown message " + frame.body[0]);
            }
        }
    }

    private void execute(FrontChannel.Frame frame) throws IOException {
        Messages.Execute message;
        try {
            message = Messages.readExecute(frame.body);
        } catch (IOException e) {
            FrontChannel.closeAll(frame.fds);
            throw e;
        }
        Call call;
        try {
            call = new Call(message, frame.fds, storlet, maxLogSize, front,
                            () -> calls.remove(message.id));
        } catch (IOException e) {
            front.send(Messages.done(message.id,
                                     "Cannot set up the storlet call: " + e));
            return;
        }
        calls.put(message.id, call);
        try {
            pool.execute(call);
        } catch (Throwable t) {  // e.g. no thread: the sandbox's pids limit
            calls.remove(message.id);
            call.abandon("Cannot run the storlet call: " + t);
        }
    }
}
