"""Command line of the sandbox agent (``--help`` documents every option).

``python3 -m storlets_agent factory --runtime-dir DIR [options]``
    The container's main process (see factory.py).
``python3 -m storlets_agent daemon --runtime-dir DIR --key K --name N
--main M --path P --ready-fd FD [options]``
    Internal: how the factory runs a daemon under another python version.
"""
import sys

# Before our modules and any storlet are imported: the image's file systems
# are read-only, and no .pyc must be written even where they are not.
sys.dont_write_bytecode = True

import argparse  # noqa: E402

from storlets_agent.java_front import (  # noqa: E402
    DEFAULT_JAVA_THREADS, DEFAULT_MAX_JAVA_DAEMONS, JAVA, JAVA_DIR)
from storlets_agent.process import (  # noqa: E402
    DEFAULT_CALLS_PER_WORKER, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_LOG_SIZE,
    DEFAULT_MAX_SCRATCH_SIZE, DEFAULT_SPARES, Limits)


def _positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError('must be > 0: %r' % text)
    return value


def _size(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError('must be an integer > 0: %r' % text)
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError('must be an integer >= 0: %r'
                                         % text)
    return value


def _at_least_one(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be an integer >= 1: %r'
                                         % text)
    return value


def _add_limits(parser):
    parser.add_argument(
        '--max-file-size', type=_size, default=DEFAULT_MAX_FILE_SIZE,
        metavar='BYTES',
        help='RLIMIT_FSIZE of a storlet process: largest file it may write '
             '(e.g. in /tmp); writing past it fails with EFBIG. Pipes, '
             'hence the output, are not limited (default: %(default)s)')
    parser.add_argument(
        '--max-log-size', type=_size, default=DEFAULT_MAX_LOG_SIZE,
        metavar='BYTES',
        help="bytes of a call's log (logger, stdout and stderr) written to "
             'the log file; the rest is dropped after a "... log '
             'truncated" line (default: %(default)s)')
    parser.add_argument(
        '--scratch-root', metavar='DIR',
        help="where each call gets a private scratch directory (its cwd, "
             "TMPDIR and HOME, params['storlet_scratch_dir']), removed when "
             'the call ends; anything else left in DIR is removed after each '
             'call. The sandbox passes /tmp; without it, calls get none and '
             'nothing is swept')
    parser.add_argument(
        '--max-scratch-size', type=_count, default=DEFAULT_MAX_SCRATCH_SIZE,
        metavar='BYTES',
        help="bytes a call's scratch directory may hold (checked every "
             '0.2 s; each entry counts 4 KiB more): past it the call fails '
             'and is killed; 0: not measured (default: %(default)s)')
    parser.add_argument(
        '--calls-per-worker', type=_at_least_one,
        default=DEFAULT_CALLS_PER_WORKER, metavar='N',
        help='calls one worker process serves in turn before a fresh one '
             'replaces it; a call that fails, leaves a process or thread '
             'running, or overflows its scratch directory always ends its '
             'worker. Module state of the storlet survives between the '
             'calls of one worker; 1: a fresh process for every call '
             '(default: %(default)s)')
    parser.add_argument(
        '--spares', type=_count, default=DEFAULT_SPARES, metavar='N',
        help='warm supervisor+worker pairs per daemon (2 processes each): '
             'the worker of a call is forked and set up before the call '
             'comes, so up to N calls at a time start without a fork; 0: '
             'fork a supervisor and a worker for each call '
             '(default: %(default)s)')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python3 -m storlets_agent',
        description='Storlets sandbox agent: daemon factory and daemons.')
    commands = parser.add_subparsers(dest='command', required=True)

    factory = commands.add_parser(
        'factory', help='serve <runtime-dir>/factory.sock (main process)',
        description='The sandbox main process: serves factory.sock and '
                    'starts one daemon per storlet version. Exits 0 on '
                    'SIGTERM or when idle, 3 if it cannot listen.')
    factory.add_argument('--runtime-dir', required=True, metavar='DIR',
                         help='directory of factory.sock and d-<key>.sock')
    factory.add_argument(
        '--idle-timeout', type=_positive, default=600.0, metavar='S',
        help='seconds with no daemon and no request after which the '
             'factory exits (0), so an unused sandbox stops; also the '
             'default of --daemon-idle-timeout (default: %(default)s)')
    factory.add_argument(
        '--daemon-idle-timeout', type=_positive, default=None, metavar='S',
        help='seconds without a call before a daemon exits (default: '
             '--idle-timeout). An idle sandbox thus stops at most '
             'daemon-idle-timeout + idle-timeout after its last call')
    factory.add_argument('--start-timeout', type=_positive, default=30.0,
                         metavar='S',
                         help='seconds a daemon has to import its storlet '
                              '(default: %(default)s)')
    factory.add_argument('--stop-grace', type=_positive, default=5.0,
                         metavar='S',
                         help='on SIGTERM, seconds daemons get to finish '
                              'their calls before these are killed '
                              '(default: %(default)s)')
    factory.add_argument('--python-dir', default='/usr/bin', metavar='DIR',
                         help='where python<version> interpreters live, for '
                              'storlets asking for another python 3 '
                              '(default: %(default)s)')
    factory.add_argument('--java', default=JAVA, metavar='PATH',
                         help='java launcher for Java storlets; without it '
                              'they are refused (default: %(default)s)')
    factory.add_argument('--java-dir', default=JAVA_DIR, metavar='DIR',
                         help='directory of storlets-api.jar, '
                              'storlets-daemon.jar and libstorlets-jni.so '
                              '(default: %(default)s)')
    factory.add_argument('--java-threads', type=_at_least_one,
                         default=DEFAULT_JAVA_THREADS, metavar='N',
                         help='calls one Java storlet JVM runs at once; '
                              'more wait (default: %(default)s)')
    factory.add_argument('--max-java-daemons', type=_count,
                         default=DEFAULT_MAX_JAVA_DAEMONS, metavar='N',
                         help='JVMs (Java storlet versions) kept at once; '
                              'starting one more stops the least recently '
                              'used, 0: no limit (default: %(default)s)')
    _add_limits(factory)

    daemon = commands.add_parser(
        'daemon', help='internal: run one storlet daemon (the factory '
                       'uses it for other python versions)',
        description='Internal: one storlet daemon, as the factory runs it '
                    'under another python version.')
    daemon.add_argument('--runtime-dir', required=True, metavar='DIR',
                        help='where to create d-<key>.sock')
    daemon.add_argument('--key', required=True,
                        help='storlet version key (socket name)')
    daemon.add_argument('--name', required=True, help='storlet name')
    daemon.add_argument('--main', required=True, metavar='MODULE.CLASS',
                        help='storlet class to import')
    daemon.add_argument('--path', required=True, metavar='DIR',
                        help='storlet directory, put first on sys.path')
    daemon.add_argument('--ready-fd', type=int, required=True, metavar='FD',
                        help='descriptor to write "ok" or "error <reason>" '
                             'on, then close')
    daemon.add_argument('--idle-timeout', type=_positive, default=600.0,
                        metavar='S',
                        help='seconds without a call before exiting '
                             '(default: %(default)s)')
    _add_limits(daemon)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    limits = Limits(max_file_size=args.max_file_size,
                    max_log_size=args.max_log_size,
                    scratch_root=args.scratch_root,
                    max_scratch_size=args.max_scratch_size,
                    calls_per_worker=args.calls_per_worker,
                    # only sockets belong there; it is on the host's disk
                    watched_dirs=(args.runtime_dir,) if args.scratch_root
                    else ())
    if args.command == 'factory':
        from storlets_agent.factory import DaemonFactory
        return DaemonFactory(args.runtime_dir, idle_timeout=args.idle_timeout,
                             start_timeout=args.start_timeout,
                             stop_grace=args.stop_grace,
                             python_dir=args.python_dir,
                             daemon_idle_timeout=args.daemon_idle_timeout,
                             limits=limits, spares=args.spares,
                             java=args.java, java_dir=args.java_dir,
                             java_threads=args.java_threads,
                             max_java_daemons=args.max_java_daemons).run()
    from storlets_agent.daemon import run_daemon
    return run_daemon(args.runtime_dir, args.key, args.name, args.main,
                      args.path, args.idle_timeout, args.ready_fd, limits,
                      args.spares)


if __name__ == '__main__':
    sys.exit(main())
