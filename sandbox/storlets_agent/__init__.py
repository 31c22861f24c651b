"""storlets_agent: what runs inside a storlets sandbox (one per Swift account).

Stdlib only, plus ``storlets.sbus`` (the control protocol; its docstring is
the spec of every message below). Installed in the image as
``/opt/storlets/storlets_agent`` next to ``/opt/storlets/storlets/sbus``,
with ``PYTHONPATH=/opt/storlets``.

Process tree
------------
::

    docker-init (PID 1)
     └─ factory          python3 -m storlets_agent factory --runtime-dir DIR
         ├─ daemon K1    one per storlet version (key), forked from the
         │   │           factory (python<v> -m storlets_agent daemon ...
         │   │           for another python version)
         │   ├─ supervisor   one per call in flight, or idle (a spare,
         │   │   │           named storlets-spare): agent code, a subreaper
         │   │   └─ worker   forked before its call, setsid(), runs the
         │   │       │       storlet once (or waits for a call, idle)
         │   │       └─ ...  whatever the storlet starts: stays below the
         │   │               supervisor, killed when the call ends
         │   └─ supervisor
         ├─ daemon K2
         └─ java daemon K3   a Java storlet version: a Python front
             └─ java         (java_front.py) and one warm JVM that runs
                             each call on a thread (JavaDaemon)

* ``factory.py``  DaemonFactory: starts, stops and reaps daemons; exits
  when idle.
* ``daemon.py``   StorletDaemon: imports one storlet class once, hands each
  call to a warm supervisor+worker pair (``--spares``).
* ``java_front.py`` JavaFront: the daemon of a Java storlet; its JVM gets
  each call's descriptors over a socketpair (JNI shim in sandbox/java).
* ``serving.py``  DaemonSocket: what both kinds of daemon do with their
  socket (accept, one request per connection, ping, hang-up, signals).
* ``spares.py``   The pairs as the daemon sees them: fork, hand-off, the
  messages of a pair.
* ``supervisor.py`` A pair's supervisor: next worker, log relay, cleanup,
  verdict and reply.
* ``worker.py``   The worker: limits, then the storlet, once.
* ``invocation.py`` One checked ``execute`` request.
* ``process.py``  Plumbing all share: signal queue, fork, descriptor
  hygiene, logging, prctl, killing a process tree.
* ``files.py``    StorletInputFile / StorletOutputFile / StorletLogger:
  the API a storlet sees.
* ``scratch.py``  Per-call scratch directories: made, measured, removed,
  and the sweep of what calls leave in ``/tmp``.
* ``__main__.py`` the command line.

Every process is a single-threaded poll loop, so every fork happens from a
process with one thread. Signal handlers only queue; each parent reaps its
own children in one place.

Containment of a call (storlets are hostile code)
-------------------------------------------------
* Nothing outlives its call: the factory, the daemons and the supervisors
  are child subreapers, so an orphan (setsid(), double fork) is adopted by
  the call's supervisor, which SIGKILLs everything below it once the worker
  has ended or the call is cancelled, before the reply. A worker is a new
  process for each call; one that waits for its call ran no storlet code.
* A fork bomb ends when fork() fails (the container's pids limit): the
  storlet's exception is the reply, the supervisor kills the rest.
* The worker's oom_score_adj is 1000: the OOM killer takes it first, and
  the reply says it was killed by signal 9.
* Worker limits: RLIMIT_CORE 0, RLIMIT_FSIZE ``--max-file-size`` (pipes,
  hence the output, are not limited).
* A call's log (logger, stdout, stderr) is capped at ``--max-log-size``.
* A call's descriptors tell nothing the API does not: every input is a
  pipe the gateway fills with the requested bytes only (on an object
  server it splices the window of the data file into it: no xattrs, no
  host path, no size, no bytes outside an ``X-Storlet-Range``); the log is
  a pipe to the supervisor; 0 is ``/dev/null``. ``/proc/self/mountinfo``
  still shows Docker's overlay directories (the host's layer paths): that
  is Docker's, not a descriptor's, and reveals no content.
* Scratch space (``--scratch-root``, ``/tmp`` in the sandbox; scratch.py):
  each call gets a new empty directory, its cwd, ``TMPDIR`` and ``HOME``
  and ``params['storlet_scratch_dir']`` (Java calls: the parameter only),
  measured while the call runs (past ``--max-scratch-size`` the call
  fails and is killed) and removed when it ends, whatever the storlet did
  to it (modes, depth, symlinks); what a call leaves elsewhere in ``/tmp``
  or in the runtime directory (a host directory on the host's disk: only
  sockets belong there) counts against every running call and is swept
  after each call. Same uid: a storlet can still reach another running
  call's directory of the same account; ``/dev/shm`` (Docker's 64 MiB
  tmpfs) is neither measured nor swept.

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
network) on a read-only root file system with a tmpfs ``/tmp`` (scratch
directories, see above). Storlet
code lives read-only in ``/var/lib/storlets/<dir>/`` (the ``path`` of
start_daemon), which a daemon puts first on ``sys.path`` and which a
storlet sees as ``params['storlet_execution_path']``. Nothing writes
``.pyc`` files. Agent events go to stderr, one line each; a storlet's own
log, and whatever it prints on stdout or stderr, goes (capped) to the log
file the gateway passes with each call.

What is *not* contained: a storlet runs as the same uid as the agent, so
it can signal (e.g. SIGKILL, SIGSTOP) the factory, its daemon, another
call of the same sandbox or an idle spare (the daemon replaces a spare
that dies; a stopped one holds up the call it gets until the gateway gives
up on it); it can lower its oom_score_adj back to 0 and make
itself dumpable again. The container (one per account) is the boundary.
"""
