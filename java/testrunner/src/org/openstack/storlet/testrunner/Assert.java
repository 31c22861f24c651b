package org.openstack.storlet.testrunner;

import java.util.Arrays;
import java.util.Objects;

/** The few assertions the Java tests use. */
public final class Assert {
    private Assert() {
    }

    /** Code that is expected to throw. */
    public interface Action {
        void run() throws Exception;
    }

    public static void assertEquals(Object expected, Object actual) {
        boolean same = expected instanceof byte[] && actual instanceof byte[]
            ? Arrays.equals((byte[]) expected, (byte[]) actual)
            : Objects.equals(expected, actual);
        if (!same) {
            throw new AssertionError("expected <" + show(expected)
                                     + "> but was <" + show(actual) + ">");
        }
    }

    public static void assertTrue(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    /** Runs {@code action}; returns what it threw, fails if it did not. */
    public static <T extends Throwable> T assertThrows(Class<T> type,
                                                       Action action) {
        try {
            action.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getSimpleName()
                                     + " but got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName()
                                 + " but nothing was thrown");
    }

    private static String show(Object o) {
        return o instanceof byte[] ? Arrays.toString((byte[]) o)
                                   : String.valueOf(o);
    }
}
