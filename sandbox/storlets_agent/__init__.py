"""storlets_agent: what runs inside a storlets sandbox (one per Swift account).

Stdlib only, plus ``storlets.sbus`` (the control protocol; its docstring is
the spec of every message below). Installed in the image as
``/opt/storlets/storlets_agent`` next to ``/opt/storlets/storlets/sbus``,
with ``PYTHONPATH=/opt/storlets``.

Process tree
------------
::

    docker-init (PID 1)
     └─ factory        python3 -m storlets_agent factory --runtime-dir DIR
         ├─ daemon K1  one per storlet version (key), forked from the
         │   │         factory (python<v> -m storlets_agent daemon ...
         │   │         for another python version)
         │   ├─ worker one per execute: forked, setsid(), runs the storlet
         │   └─ worker
         └─ daemon K2

* ``factory.py``  DaemonFactory: starts, stops and reaps daemons.
* ``daemon.py``   StorletDaemon: imports one storlet class once, forks a
  worker per call, replies when the worker is gone. Also the process
  plumbing both share (signal queue, fork, descriptor hygiene, logging).
* ``files.py``    StorletInputFile / StorletOutputFile / StorletLogger:
  the API a storlet sees.
* ``__main__.py`` the command line.

Every process is a single-threaded poll loop, so every fork happens from a
process with one thread. Signal handlers only queue; each parent reaps its
own children in one place.

Sockets (in the runtime directory, ``/run/storlets`` in the sandbox)
---------------------------------------------------------------------
``factory.sock``
    ping, start_daemon, stop_daemon, status.
``d-<key>.sock``
    ping, execute: one per daemon, i.e. per storlet version.

Both are mode 0666: the gateway may run as another uid, so the runtime
directory (a per-account bind mount) is what controls access.

User, files, environment
------------------------
The sandbox runs as uid 10001 (no /etc/passwd entry, no capabilities, no
network) on a read-only root file system with a tmpfs ``/tmp``. Storlet
code lives read-only in ``/var/lib/storlets/<dir>/`` (the ``path`` of
start_daemon), which a daemon puts first on ``sys.path`` and which a
storlet sees as ``params['storlet_execution_path']``. Nothing writes
``.pyc`` files. Agent events go to stderr, one line each; a storlet's own
log goes to the log file the gateway passes with each call.
"""
