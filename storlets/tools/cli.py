"""The ``storlets`` command: deploy, run and inspect storlets.

Credentials come from ``--auth/--user/--key`` or, like the ``swift`` CLI,
``ST_AUTH``, ``ST_USER`` and ``ST_KEY``. Container names come from the
cluster's ``/info``. Exit codes: 0 success, 1 the cluster refused or failed,
2 bad usage or a local validation error. Errors are one line on stderr.

    storlets deploy mystorlet.py --dep helper.py
    storlets run mycontainer myobject mystorlet.py -p color=red -o out.bin
    storlets test mystorlet.py --input data.bin --param color=red
"""
import argparse
import os
import subprocess
import sys
from urllib.parse import quote

from storlets import languages
from storlets.gateway.registration import (
    RegistrationError, validate_dependency, validate_storlet)

EXIT_FAILED, EXIT_USAGE = 1, 2
DEFAULT_CONTAINERS = {'storlet_container': 'storlet',
                      'storlet_dependency': 'dependency',
                      'storlet_logcontainer': 'storletlog'}


class CLIError(Exception):
    def __init__(self, message, code=EXIT_FAILED):
        super().__init__(message)
        self.code = code


# -- talking to Swift -----------------------------------------------------

def connect(args):
    import swiftclient
    if not (args.auth and args.user and args.key):
        raise CLIError('credentials missing: give --auth/--user/--key or set '
                       'ST_AUTH, ST_USER and ST_KEY', EXIT_USAGE)
    return swiftclient.Connection(args.auth, args.user, args.key, retries=1)


def containers(conn):
    """Storlet container names as the cluster publishes them."""
    try:
        info = conn.get_capabilities().get('storlet_handler', {})
    except Exception:
        info = {}
    return {k: info.get(k, v) for k, v in DEFAULT_CONTAINERS.items()}


def swift_call(what, fn, *args, **kwargs):
    from swiftclient import ClientException
    try:
        return fn(*args, **kwargs)
    except ClientException as err:
        body = (err.http_response_content or b'')[:200]
        if isinstance(body, bytes):
            body = body.decode('utf-8', 'replace')
        raise CLIError('%s failed: %s %s%s' % (
            what, err.http_status or '', err.http_reason or '',
            (': ' + body.strip()) if body.strip() else ''))


# -- commands --------------------------------------------------------------

def storlet_metadata(path, main, language, deps):
    name = os.path.basename(path)
    lang = (languages.by_name(language) if language
            else languages.for_file(name) or languages.LANGUAGES['python'])
    try:
        main = lang.find_main(path, main or None)
    except languages.LanguageError as err:
        raise CLIError(str(err), EXIT_USAGE)
    params = {'Language': lang.title, 'Interface-Version': '1.0',
              'Object-Metadata': 'no', 'Main': main}
    if deps:
        params['Dependency'] = ','.join(os.path.basename(d) for d in deps)
    try:
        validate_storlet(name, params)
    except RegistrationError as err:
        raise CLIError('%s: %s' % (name, err), EXIT_USAGE)
    return name, {'X-Object-Meta-Storlet-%s' % k: v
                  for k, v in params.items()}


def cmd_deploy(args):
    for path in [args.file] + args.dep:
        if not os.path.isfile(path):
            raise CLIError('%s: no such file' % path, EXIT_USAGE)
    name, headers = storlet_metadata(args.file, args.main, args.lang,
                                     args.dep)
    dep_headers = {'X-Object-Meta-Storlet-Dependency-Version': '1',
                   'X-Object-Meta-Storlet-Dependency-Permissions':
                   args.dep_perm}
    for dep in args.dep:
        try:
            validate_dependency(os.path.basename(dep), {
                k[len('X-Object-Meta-Storlet-'):]: v
                for k, v in dep_headers.items()})
        except RegistrationError as err:
            raise CLIError('%s: %s' % (dep, err), EXIT_USAGE)
    conn = connect(args)
    names = containers(conn)
    for dep in args.dep:
        print('dependency %s/%s (permissions %s)' % (
            names['storlet_dependency'], os.path.basename(dep),
            args.dep_perm))
    print('storlet %s/%s %s' % (names['storlet_container'], name, ' '.join(
        '%s=%s' % (k[len('X-Object-Meta-Storlet-'):], v)
        for k, v in sorted(headers.items()))))
    if args.dry_run:
        return
    for dep in args.dep:
        with open(dep, 'rb') as f:
            swift_call('upload of %s' % dep, conn.put_object,
                       names['storlet_dependency'], os.path.basename(dep), f,
                       headers=dep_headers)
    with open(args.file, 'rb') as f:
        swift_call('upload of %s' % name, conn.put_object,
                   names['storlet_container'], name, f, headers=headers)
    print('deployed %s' % name)


def cmd_list(args):
    conn = connect(args)
    names = containers(conn)
    _, objects = swift_call('listing', conn.get_container,
                            names['storlet_container'], full_listing=True)
    for obj in objects:
        print(obj['name'])


def parse_params(pairs):
    headers = {}
    for i, pair in enumerate(pairs):
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise CLIError('parameter %r must be key=value' % pair,
                           EXIT_USAGE)
        headers['X-Storlet-Parameter-%d' % i] = quote('%s:%s' % (key, value))
    return headers


def cmd_run(args):
    headers = {'X-Run-Storlet': args.storlet}
    headers.update(parse_params(args.param))
    if args.range:
        headers['X-Storlet-Range'] = args.range
    if args.extra:
        headers['X-Storlet-Extra-Resources'] = ','.join(args.extra)
    if args.on_proxy:
        headers['X-Storlet-Run-On-Proxy'] = ''
    conn = connect(args)
    if args.put:
        with open(args.put, 'rb') as f:
            swift_call('PUT', conn.put_object, args.container, args.object,
                       f, headers=headers)
        print('stored %s/%s' % (args.container, args.object))
        return
    if args.copy_to:
        headers['X-Copy-From'] = quote('%s/%s' % (args.container,
                                                  args.object))
        dest_container, _, dest_obj = args.copy_to.lstrip('/').partition('/')
        if not dest_obj:
            raise CLIError('--copy-to must be container/object', EXIT_USAGE)
        swift_call('copy', conn.put_object, dest_container, dest_obj, None,
                   headers=headers)
        print('stored %s/%s' % (dest_container, dest_obj))
        return
    resp_headers, body = swift_call(
        'GET', conn.get_object, args.container, args.object, headers=headers,
        resp_chunk_size=65536)
    out = open(args.output, 'wb') if args.output and args.output != '-' \
        else sys.stdout.buffer
    try:
        for chunk in body:
            out.write(chunk)
    finally:
        if out is not sys.stdout.buffer:
            out.close()


def cmd_acl(args):
    conn = connect(args)
    if args.action == 'grant':
        swift_call('ACL update', conn.post_container, args.container, {
            'X-Storlet-Container-Read': args.acl_user,
            'X-Storlet-Name': args.storlet})
        print('%s may read %s through %s' % (args.acl_user, args.container,
                                             args.storlet))
        return
    headers = swift_call('HEAD', conn.head_container, args.container)
    entry = '.r:storlets.%s_%s' % (args.acl_user, args.storlet)
    entries = [e for e in headers.get('x-container-read', '').split(',')
               if e and e != entry]
    swift_call('ACL update', conn.post_container, args.container,
               {'X-Container-Read': ','.join(entries)})
    print('revoked %s' % entry)


def cmd_logs(args):
    conn = connect(args)
    names = containers(conn)
    _, body = swift_call('log download', conn.get_object,
                         names['storlet_logcontainer'],
                         '%s.log' % args.storlet)
    sys.stdout.buffer.write(body)


def cmd_enable(args):
    conn = connect(args)
    names = containers(conn)
    swift_call('account update', conn.post_account,
               {'X-Account-Meta-Storlet-Enabled': 'True'})
    for key in ('storlet_container', 'storlet_dependency',
                'storlet_logcontainer'):
        swift_call('container creation', conn.put_container, names[key])
    print('storlets enabled; containers %s' % ', '.join(
        names[k] for k in sorted(names)))


def _parse_params(pairs):
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition('=')
        if not sep:
            raise CLIError('parameter %r must be key=value' % pair,
                           EXIT_USAGE)
        params[key] = value
    return params


def cmd_test(args):
    """Run a storlet locally against files, without Swift."""
    lang = languages.for_file(os.path.basename(args.file))
    if lang is None:
        raise CLIError('storlets test runs %s storlets' % ' and '.join(
            '%s (%s)' % (lang.title, lang.suffix)
            for lang in languages.LANGUAGES.values()), EXIT_USAGE)
    params = _parse_params(args.param)
    try:
        lang.run_locally(args.file, args.main, args.input or [], params,
                         args.output, api_jar=args.api_jar)
    except languages.LanguageError as err:
        raise CLIError(str(err), EXIT_USAGE if err.usage else EXIT_FAILED)


def cmd_image_build(args):
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, '..', '..', 'devstack', 'build-image.sh')
    if not os.path.isfile(script):
        raise CLIError('devstack/build-image.sh not found: run this from a '
                       'checkout of the storlets repository', EXIT_USAGE)
    argv = ['bash', script]
    if args.java:
        argv.append('--java')
    if args.packages:
        argv += ['--packages', ' '.join(args.packages)]
    # progress goes to stderr as it happens; the tag is the last stdout line
    run = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise CLIError('image build failed (exit code %d)' % run.returncode)
    tag = lines[-1]
    print(tag)
    if args.account:
        print('For %s, add to the docker gateway config (on every proxy and '
              'object node) and restart Swift:\n\n[account:%s]\n'
              'sandbox_image = %s' % (args.account, args.account, tag))


# -- argument parsing ------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(
        prog='storlets', description='Deploy, run and inspect storlets on a '
        'Swift cluster (credentials as for the swift CLI: ST_AUTH, ST_USER, '
        'ST_KEY).')
    parser.add_argument('--auth', default=os.environ.get('ST_AUTH'),
                        help='auth URL (default: $ST_AUTH)')
    parser.add_argument('--user', default=os.environ.get('ST_USER'),
                        help='user (default: $ST_USER)')
    parser.add_argument('--key', default=os.environ.get('ST_KEY'),
                        help='key (default: $ST_KEY)')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('deploy', help='upload a storlet and its dependencies',
                       description='Validate locally, show what will be '
                       'uploaded, then upload dependencies and the storlet.')
    p.add_argument('file', help='the storlet: a .py module or a .jar')
    p.add_argument('--main', help='module.Class, or the Java class name '
                   '(found if omitted and the file has exactly one storlet '
                   'class)')
    p.add_argument('--lang', choices=languages.NAMES,
                   help='language (default: from the file name)')
    p.add_argument('--dep', action='append', default=[], metavar='FILE',
                   help='a dependency file (repeatable)')
    p.add_argument('--dep-perm', default='0600', metavar='MODE',
                   help='octal mode of dependencies, e.g. 0755 for '
                   'executables (default 0600)')
    p.add_argument('--dry-run', action='store_true',
                   help='validate and show, upload nothing')
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser('list', help='list deployed storlets')
    p.set_defaults(func=cmd_list)

    p = sub.add_parser('run', help='run a storlet on an object (GET, PUT, '
                       'copy)')
    p.add_argument('container')
    p.add_argument('object')
    p.add_argument('storlet', help='storlet object name, e.g. mystorlet.py')
    p.add_argument('-p', '--param', action='append', default=[],
                   metavar='KEY=VALUE', help='a parameter (repeatable)')
    p.add_argument('--range', help='X-Storlet-Range, e.g. bytes=0-99')
    p.add_argument('--extra', action='append', default=[],
                   metavar='/CONTAINER/OBJECT', help='an extra input')
    p.add_argument('--on-proxy', action='store_true',
                   help='run on the proxy instead of an object server')
    p.add_argument('--put', metavar='FILE',
                   help='upload FILE through the storlet to the object')
    p.add_argument('--copy-to', metavar='CONTAINER/OBJECT',
                   help='copy the object through the storlet')
    p.add_argument('-o', '--output', help='write the output here '
                   '(default: stdout)')
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('acl', help='grant or revoke a storlet ACL')
    p.add_argument('action', choices=('grant', 'revoke'))
    p.add_argument('container')
    p.add_argument('acl_user', metavar='user',
                   help='user name (Keystone name, or tempauth user)')
    p.add_argument('storlet')
    p.set_defaults(func=cmd_acl)

    p = sub.add_parser('logs', help="print a storlet's last uploaded log")
    p.add_argument('storlet')
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser('enable', help='enable storlets on the account and '
                       'create its storlet containers')
    p.set_defaults(func=cmd_enable)

    p = sub.add_parser('test', help='run a storlet locally on files',
                       description='Run a Python module or a Java jar once '
                       'on local files, without Swift, under the engine\'s '
                       'rules; output to stdout (or -o), log lines and the '
                       'output metadata to stderr.')
    p.add_argument('file', help='the storlet: a .py module or a .jar')
    p.add_argument('--main', help='module.Class, or the Java class (found '
                   'if omitted)')
    p.add_argument('--input', action='append', metavar='FILE',
                   help='an input (repeatable; default: stdin)')
    p.add_argument('--param', action='append', default=[],
                   metavar='KEY=VALUE', help='a parameter (repeatable)')
    p.add_argument('-o', '--output', help='output file (default: stdout)')
    p.add_argument('--api-jar', metavar='JAR',
                   help='Java: storlets-api.jar (default: $STORLETS_API_JAR)')
    p.set_defaults(func=cmd_test)

    p = sub.add_parser('image', help='sandbox image operations')
    image = p.add_subparsers(dest='image_command', required=True)
    b = image.add_parser(
        'build', help='build or reuse the sandbox image',
        description='Build (or reuse: images are tagged by a hash of their '
        'inputs) the sandbox image with devstack/build-image.sh, as root on '
        'a node with docker; prints its tag.')
    b.add_argument('--java', action='store_true',
                   help='with the Java runtime and engine (for Java '
                   'storlets; needs a JDK and gcc on this host)')
    b.add_argument('--packages', nargs='+', metavar='PKG',
                   help='extra Debian packages, in a layer on top (for '
                   'accounts whose storlets need them)')
    b.add_argument('--account', metavar='AUTH_x',
                   help='print the gateway config section that gives this '
                   'account the image')
    b.set_defaults(func=cmd_image_build)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CLIError as err:
        print('storlets: %s' % err, file=sys.stderr)
        return err.code
    except OSError as err:
        print('storlets: %s' % err, file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == '__main__':
    sys.exit(main())
