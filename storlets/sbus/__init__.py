"""SBus: the control channel between the gateway (host) and the sandbox agent.

Stdlib only: this package is also installed inside the sandbox image.

Transport
---------
A Unix-domain *stream* socket, one connection per conversation. Every message
is a frame::

    +----------------------+----------------------------------+
    | length: 4 bytes, BE  | body: `length` bytes, UTF-8 JSON |
    +----------------------+----------------------------------+

The body is always a JSON object. Frames are limited to MAX_MESSAGE_SIZE
(64 MiB), far above anything Swift accepts as metadata or parameters, so there
is no 4 KiB cap on parameters or metadata.

File descriptors travel with a frame as one ``SCM_RIGHTS`` control message,
sent with the frame's first bytes. A frame carrying descriptors lists their
roles, in order, in its ``"fds"`` key; the receiver checks that the count of
descriptors matches. The receiver owns (and must close) every descriptor it
receives, even when it rejects the message.

Sockets (host path ``<runtime_dir>/<scope>/``, sandbox path ``/run/storlets/``)
---------------------------------------------------------------------------------
``factory.sock``
    The agent's factory: one per sandbox (per account). Requests:

    ``{"cmd": "ping"}``
        -> ``{"ok": true}``
    ``{"cmd": "start_daemon", "daemon": {"key": K, "name": N, "language":
    "python", "language_version": "3", "main": "module.Class", "path": P}}``
        Starts (or finds) the warm daemon for one version of one storlet. K
        is a short hex key that names that version; P is the sandbox
        directory holding the storlet file and its dependencies. Replies
        once the daemon has imported the storlet and listens:
        ``{"ok": true, "socket": "d-<K>.sock"}``, or ``{"ok": false,
        "error": "<one line>"}``. Starting version K of storlet N stops
        daemons of N's other versions once they are idle.
    ``{"cmd": "stop_daemon", "key": K}``
        -> ``{"ok": true}``
    ``{"cmd": "status"}``
        -> ``{"ok": true, "daemons": {K: {"name": N, "pid": int}}}``

``d-<K>.sock``
    One warm daemon per storlet version. Requests:

    ``{"cmd": "ping"}``
        -> ``{"ok": true}``
    ``{"cmd": "execute", "params": {str: str}, "inputs": [{"metadata":
    {str: str}, "start": int|null, "end": int|null}, ...], "fds": ["input",
    "output", "metadata", "log", "input", ...]}``
        Runs the storlet once, in a process forked for this call. Descriptor
        roles, in this order: the main input, the output data pipe (write
        end), the output metadata pipe (write end), the log file, then one
        ``input`` per extra input. ``inputs`` describes the ``input``
        descriptors in the same order; ``start``/``end`` make an input the
        half-open window ``[start, end)`` of a seekable file (the daemon
        positions it; reads stop at ``end``). The daemon answers with one
        frame when the call ends: ``{"ok": true}`` or ``{"ok": false,
        "error": "<text>"}``. If the gateway closes the connection first
        (timeout, client gone) the daemon kills the call's process.

Every request may instead be answered with ``{"ok": false, "error": ...}``
(unknown command, malformed message).

The storlet's output metadata is written by the storlet process, as one JSON
object, into the metadata pipe, which it then closes; its output bytes go
into the output pipe. The gateway reads both pipes directly.
"""
