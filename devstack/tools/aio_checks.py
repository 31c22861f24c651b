"""Checks the all-in-one runs while it sets up (devstack/aio.sh), with the
Swift venv's Python. Each exits 0 when the check passes.

    aio_checks.py paste-filter       the venv has storlets' paste filter
    aio_checks.py xattr DIR          DIR's file system keeps user xattrs
    aio_checks.py ec-type TYPE...    prints "OK <type>" for the first
                                     pyeclib backend that round-trips data
"""
import os
import sys
import tempfile
import warnings


def paste_filter():
    from importlib.metadata import entry_points
    eps = entry_points(group='paste.filter_factory')
    return any(ep.name == 'storlet_handler' and ep.dist
               and ep.dist.name == 'storlets' for ep in eps)


def xattr(directory):
    fd, path = tempfile.mkstemp(dir=directory, prefix='.xattr-check-')
    os.close(fd)
    try:
        os.setxattr(path, 'user.test', b'1')
        return os.getxattr(path, 'user.test') == b'1'
    except OSError as err:
        print('xattr check failed: %s' % err, file=sys.stderr)
        return False
    finally:
        os.unlink(path)


def ec_type(*candidates):
    warnings.simplefilter('ignore')
    from pyeclib.ec_iface import ECDriver
    errors = []
    data = bytes(range(256)) * 4099
    for candidate in candidates:
        try:
            driver = ECDriver(k=2, m=1, ec_type=candidate)
            if driver.decode(driver.encode(data)[1:]) != data:
                raise ValueError('decoding returned other data')
        except Exception as err:
            errors.append('%s: %s: %s' % (candidate, type(err).__name__, err))
            continue
        print('OK ' + candidate)
        return True
    print('\n'.join(errors))
    return False


CHECKS = {'paste-filter': paste_filter, 'xattr': xattr, 'ec-type': ec_type}

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in CHECKS:
        sys.exit(__doc__)
    sys.exit(0 if CHECKS[sys.argv[1]](*sys.argv[2:]) else 1)
