"""Command line of the sandbox agent.

``python3 -m storlets_agent factory --runtime-dir DIR [--idle-timeout S]
[--start-timeout S] [--stop-grace S] [--python-dir DIR]``
    The container's main process (see factory.py).
``python3 -m storlets_agent daemon --runtime-dir DIR --key K --name N
--main M --path P --ready-fd FD [--idle-timeout S]``
    Internal: how the factory runs a daemon under another python version.
"""
import sys

# Before our modules and any storlet are imported: the image's file systems
# are read-only, and no .pyc must be written even where they are not.
sys.dont_write_bytecode = True

import argparse  # noqa: E402


def _positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError('must be > 0: %r' % text)
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python3 -m storlets_agent',
        description='Storlets sandbox agent: daemon factory and daemons.')
    commands = parser.add_subparsers(dest='command', required=True)

    factory = commands.add_parser(
        'factory', help='serve <runtime-dir>/factory.sock (main process)')
    factory.add_argument('--runtime-dir', required=True,
                         help='directory of factory.sock and d-<key>.sock')
    factory.add_argument('--idle-timeout', type=_positive, default=600.0,
                         help='seconds without a call before a daemon exits '
                              '(default: %(default)s)')
    factory.add_argument('--start-timeout', type=_positive, default=30.0,
                         help='seconds a daemon has to import its storlet '
                              '(default: %(default)s)')
    factory.add_argument('--stop-grace', type=_positive, default=5.0,
                         help='on SIGTERM, seconds daemons get to finish '
                              'their calls before these are killed '
                              '(default: %(default)s)')
    factory.add_argument('--python-dir', default='/usr/bin',
                         help='where python<version> interpreters live '
                              '(default: %(default)s)')

    daemon = commands.add_parser(
        'daemon', help='internal: run one storlet daemon (the factory '
                       'uses it for other python versions)')
    daemon.add_argument('--runtime-dir', required=True)
    daemon.add_argument('--key', required=True)
    daemon.add_argument('--name', required=True)
    daemon.add_argument('--main', required=True)
    daemon.add_argument('--path', required=True)
    daemon.add_argument('--ready-fd', type=int, required=True)
    daemon.add_argument('--idle-timeout', type=_positive, default=600.0)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == 'factory':
        from storlets_agent.factory import DaemonFactory
        return DaemonFactory(args.runtime_dir, idle_timeout=args.idle_timeout,
                             start_timeout=args.start_timeout,
                             stop_grace=args.stop_grace,
                             python_dir=args.python_dir).run()
    from storlets_agent.daemon import run_daemon
    return run_daemon(args.runtime_dir, args.key, args.name, args.main,
                      args.path, args.idle_timeout, args.ready_fd)


if __name__ == '__main__':
    sys.exit(main())
