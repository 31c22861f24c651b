"""The sandbox's layout: what the gateway (on the host) and the sandbox
agent (in the image) must agree on. Standard library only: this module
ships in the image next to the agent.

* Paths inside the sandbox: where the agent lives, where the account's
  code is mounted (read-only), where its sockets are (the only writable
  mount), where the JRE's jars are.
* Socket names in the runtime directory.
* Limits both sides apply (the log a call keeps).
* The agent's whole command line (``agent_command``): the image has no
  entrypoint of its own, so how a sandbox starts is decided here, with the
  gateway's options, and nowhere else.

Host-side paths (``<host_root>/cache/<scope>`` and ``run/<scope>``) are the
gateway's (``storlets.gateway.docker``).
"""

#: Where the image keeps the agent's packages (its PYTHONPATH).
AGENT_ROOT = '/opt/storlets'
#: The image's Python, which runs the agent.
PYTHON = '/usr/bin/python3'
#: Storlet code and dependencies of the account, mounted read-only.
CODE_DIR = '/var/lib/storlets'
#: The runtime directory: sockets, mounted read-write (host:
#: ``<host_root>/run/<scope>``).
RUN_DIR = '/run/storlets'
#: The sandbox's tmpfs; each call's scratch directory lives under it.
TMP_DIR = '/tmp'
#: The API jar, the daemon jar and the JNI shim of Java storlets.
JAVA_DIR = AGENT_ROOT + '/java'

#: The factory's socket in the runtime directory.
FACTORY_SOCKET = 'factory.sock'

#: Bytes of a call's log kept (the agent truncates, the gateway reads at
#: most this much).
MAX_LOG_SIZE = 1024 * 1024


def daemon_socket(key):
    """A storlet daemon's socket name in the runtime directory."""
    return 'd-%s.sock' % key


def agent_command(**options):
    """The sandbox's command line: the agent's factory serving ``RUN_DIR``
    with ``options`` (``max_java_daemons=4`` -> ``--max-java-daemons 4``;
    see ``python3 -m storlets_agent factory --help``)."""
    argv = [PYTHON, '-m', 'storlets_agent', 'factory',
            '--runtime-dir', RUN_DIR]
    for name, value in options.items():
        argv += ['--' + name.replace('_', '-'), str(value)]
    return argv
