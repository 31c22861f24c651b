package org.openstack.storlet.testrunner;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Comparator;

/**
 * A plain test runner (no JUnit on this machine): for each class named on
 * the command line, runs every public no-argument instance method whose
 * name starts with {@code test}, on a fresh instance, and prints one line
 * per test and then {@code N passed, N failed}. Exits 1 if any failed.
 */
public final class TestRunner {
    private TestRunner() {
    }

    public static void main(String[] args) throws Exception {
        int passed = 0;
        int failed = 0;
        for (String name : args) {
            Class<?> cls = Class.forName(name);
            Method[] methods = cls.getMethods();
            Arrays.sort(methods, Comparator.comparing(Method::getName));
            for (Method m : methods) {
                if (!m.getName().startsWith("test")
                        || m.getParameterCount() != 0
                        || Modifier.isStatic(m.getModifiers())) {
                    continue;
                }
                String label = cls.getSimpleName() + "." + m.getName();
                try {
                    m.invoke(cls.getDeclaredConstructor().newInstance());
                    passed++;
                    System.out.println("PASS " + label);
                } catch (InvocationTargetException e) {
                    failed++;
                    System.out.println("FAIL " + label + ": " + e.getCause());
                    e.getCause().printStackTrace(System.out);
                }
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 && passed > 0 ? 0 : 1);
    }
}
