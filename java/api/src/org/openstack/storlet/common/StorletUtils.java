package org.openstack.storlet.common;

import java.io.File;
import java.net.URISyntaxException;
import java.security.CodeSource;

/** Helpers for storlets. */
public final class StorletUtils {
    private StorletUtils() {
    }

    /**
     * The directory holding the jar (or class directory) that defines
     * {@code c}: for a storlet class, its storlet directory, where its
     * dependencies are (run an executable one as
     * {@code getClassFolder(getClass()) + "/get42"}). Null if unknown.
     */
    public static String getClassFolder(Class<?> c) {
        CodeSource source = c.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return null;
        }
        File location;
        try {
            location = new File(source.getLocation().toURI());
        } catch (URISyntaxException | IllegalArgumentException e) {
            location = new File(source.getLocation().getPath());
        }
        return location.isDirectory() ? location.getPath()
                                      : location.getParent();
    }
}
