"""Exit codes of the agent's processes, each named once.

Who reads them: Docker (the factory's), the factory (a daemon's, logged),
a daemon (its supervisors'), a supervisor (its worker's, turned into the
call's verdict). Every code means one thing wherever it appears; a code a
storlet chooses itself (``os._exit(7)`` in a worker) is reported as such.

====  =======================  ==============================================
code  name                     meaning
====  =======================  ==============================================
0     OK                       done as asked
1     SUPERVISOR_LEFTOVERS     a supervisor could not kill all its call left
3     FACTORY_LISTEN_FAILED    the factory could not serve its socket
3     WORKER_STORLET_FAILED    the storlet failed (text on the error pipe)
4     DAEMON_START_FAILED      import or bind failed (reason on ready pipe)
4     WORKER_SETUP_FAILED      a call could not be set up (e.g. bad window)
5     DAEMON_CRASHED           a daemon's own code raised unexpectedly
6     SPARE_UNUSED             a spare supervisor/worker that got no call
9     JVM_DIED                 a Java front whose JVM ended on its own
====  =======================  ==============================================

(3 and 4 are read by different parents, never by the same one.)
"""

OK = 0

FACTORY_OK = OK
FACTORY_LISTEN_FAILED = 3

DAEMON_OK = OK
DAEMON_START_FAILED = 4
DAEMON_CRASHED = 5
JVM_DIED = 9

SUPERVISOR_OK = OK
SUPERVISOR_LEFTOVERS = 1

WORKER_OK = OK
WORKER_STORLET_FAILED = 3
WORKER_SETUP_FAILED = 4
SPARE_UNUSED = 6
