package org.openstack.storlet.common;

import java.util.ArrayList;
import java.util.Map;

/**
 * The one interface a Java storlet implements.
 *
 * <p>The engine creates one instance (public no-argument constructor) when
 * the storlet's daemon starts and calls {@link #invoke} from several threads
 * at once: implementations must be thread-safe.
 */
public interface IStorlet {
    /**
     * Runs the storlet once.
     *
     * @param inStreams  the main input first, then the extra inputs in the
     *                   order the request named them
     * @param outStreams one {@link StorletObjectOutputStream}: set its
     *                   metadata once, then write the data
     * @param parameters the request's storlet parameters, plus
     *                   {@code storlet_execution_path}
     * @param logger     the storlet's log
     * @throws StorletException to report a failure (its message is logged)
     */
    void invoke(ArrayList<StorletInputStream> inStreams,
                ArrayList<StorletOutputStream> outStreams,
                Map<String, String> parameters, StorletLogger logger)
        throws StorletException;
}
