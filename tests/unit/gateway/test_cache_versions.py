"""The code cache stores exactly the version the proxy described.

A storage node that was down while a storlet (or a dependency) was
re-uploaded still holds the old replica; the cache must never file that
old code under the new version's key.
"""
import os

import pytest

from storlets.errors import StorletCodeError
from storlets.gateway.cache import CodeCache
from storlets.gateway.invocation import StorletRef

SCOPE = 'scope1'


class VersionedSource:
    """Serves each code object with the timestamp it was "uploaded" at."""

    def __init__(self, objects):
        #: {(kind, name): (timestamp, body)}
        self.objects = objects

    def fetch(self, account, kind, name):
        timestamp, body = self.objects[(kind, name)]
        return {'X-Timestamp': timestamp}, [body]


def ref(timestamp, deps=(), dep_versions=()):
    return StorletRef(name='s.py', language='python', main='s.S', etag='e',
                      timestamp=timestamp, dependencies=tuple(deps),
                      dependency_versions=tuple(dep_versions))


def visible(cache):
    try:
        return sorted(os.listdir(cache.scope_dir(SCOPE)))
    except FileNotFoundError:
        return []


def test_the_described_version_is_cached(tmp_path):
    cache = CodeCache(str(tmp_path / 'cache'))
    source = VersionedSource({('storlet', 's.py'): ('0000000002.00000', b'new'),
                              ('dependency', 'd.bin'): ('0000000005.00000',
                                                        b'dep')})
    key = cache.ensure(SCOPE, 'AUTH_a', ref('0000000002.00000', ['d.bin'],
                                            ['x@0000000005.00000']), source)
    with open(os.path.join(cache.scope_dir(SCOPE), key, 's.py'), 'rb') as f:
        assert f.read() == b'new'


@pytest.mark.parametrize('stale', ['storlet', 'dependency'])
def test_a_stale_replica_is_refused_and_nothing_is_cached(tmp_path, stale):
    cache = CodeCache(str(tmp_path / 'cache'))
    timestamps = {'storlet': '0000000002.00000',
                  'dependency': '0000000005.00000'}
    timestamps[stale] = '0000000001.00000'      # what the lagging node has
    source = VersionedSource({
        ('storlet', 's.py'): (timestamps['storlet'], b'code'),
        ('dependency', 'd.bin'): (timestamps['dependency'], b'dep')})
    with pytest.raises(StorletCodeError) as err:
        cache.ensure(SCOPE, 'AUTH_a', ref('0000000002.00000', ['d.bin'],
                                          ['x@0000000005.00000']), source)
    assert err.value.status == 503
    assert '0000000001.00000' in str(err.value)
    assert visible(cache) == []       # no version, no temporary directory


def test_a_version_uploaded_since_the_proxy_looked_is_run(tmp_path):
    """A re-upload between the proxy's HEAD and the node's fetch: the
    newer code is what the user would run now."""
    cache = CodeCache(str(tmp_path / 'cache'))
    source = VersionedSource({('storlet', 's.py'): ('0000000003.00000',
                                                    b'newer')})
    key = cache.ensure(SCOPE, 'AUTH_a', ref('0000000002.00000'), source)
    with open(os.path.join(cache.scope_dir(SCOPE), key, 's.py'), 'rb') as f:
        assert f.read() == b'newer'


@pytest.mark.parametrize('fetched, expected, stale', [
    ('0000000002.00000', '0000000002.00000', False),
    ('0000000002.00000_0000000000000001', '0000000002.00000', False),
    ('0000000002.00000', '0000000002.00000_000000000000000a', True),
    ('0000000001.99999', '0000000002.00000', True),
    ('not a timestamp', '0000000002.00000', True),
])
def test_timestamps_are_compared_as_swift_orders_them(tmp_path, fetched,
                                                      expected, stale):
    cache = CodeCache(str(tmp_path / 'cache'))
    source = VersionedSource({('storlet', 's.py'): (fetched, b'code')})
    if stale:
        with pytest.raises(StorletCodeError):
            cache.ensure(SCOPE, 'AUTH_a', ref(expected), source)
    else:
        cache.ensure(SCOPE, 'AUTH_a', ref(expected), source)
