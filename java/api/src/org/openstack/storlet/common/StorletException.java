package org.openstack.storlet.common;

/** A storlet's way to report a failure; the message goes to its log. */
public class StorletException extends Exception {
    private static final long serialVersionUID = 1L;

    public StorletException(String message) {
        super(message);
    }

    public StorletException(String message, Throwable cause) {
        super(message, cause);
    }
}
