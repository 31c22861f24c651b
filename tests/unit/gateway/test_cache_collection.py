"""Collection of the node's code cache: real files, real flock."""
import multiprocessing
import os
import time

from storlets.gateway import locks
from storlets.gateway.cache import TMP_MIN_AGE, CodeCache
from storlets.gateway.docker import DockerStorletGateway, scope_of
from storlets.gateway.invocation import StorletRef
from tests.unit.gateway.test_eviction import DirDocker

SCOPE = 'abc'


class Source:
    def __init__(self):
        self.fetched = []

    def fetch(self, account, kind, name):
        self.fetched.append(name)
        return {}, [b'x' * 1000]


def ref(name='s.py', timestamp='1', etag='e'):
    return StorletRef(name=name, language='python', main='s.S', etag=etag,
                      timestamp=timestamp)


def cached(cache, *refs, source=None):
    """Cache each version (one call each, finished); return their keys."""
    keys = []
    for r in refs:
        key, held = cache.acquire(SCOPE, 'AUTH_a', r, source or Source())
        held.release()
        keys.append(key)
    return keys


def on_disk(cache, scope=SCOPE):
    return {k for k in os.listdir(cache.scope_dir(scope))
            if not k.startswith('.')}


def make_cache(tmp_path):
    return CodeCache(str(tmp_path / 'cache'), touch_interval=0)


def test_superseded_versions_go_the_newest_stays(tmp_path):
    cache = make_cache(tmp_path)
    keys = cached(cache, *[ref(timestamp='%d' % t) for t in (3, 1, 5, 2)])
    other, = cached(cache, ref(name='other.py'))
    removed = cache.collect_scope(SCOPE, ttl=3600)
    assert set(removed) == {keys[0], keys[1], keys[3]}
    assert on_disk(cache) == {keys[2], other}
    assert sorted(os.listdir(cache.versions_root + '/' + SCOPE)) == \
        sorted([keys[2], other])
    assert os.listdir(cache.trash)
    cache.empty_trash()
    assert os.listdir(cache.trash) == []


def test_a_version_in_use_is_never_removed(tmp_path):
    cache = make_cache(tmp_path)
    old, new = cached(cache, ref(timestamp='1'), ref(timestamp='2'))
    key, held = cache.acquire(SCOPE, 'AUTH_a', ref(timestamp='1'), Source())
    stopped = []
    assert cache.collect_scope(SCOPE, ttl=0, on_remove=stopped.append) == \
        [new]                 # ttl 0: everything expired but the call's
    assert on_disk(cache) == {old}
    held.release()
    assert cache.collect_scope(SCOPE, ttl=0, on_remove=stopped.append) == \
        [old]
    assert stopped == [new, old]


def test_unused_versions_expire(tmp_path):
    cache = make_cache(tmp_path)
    stale, fresh = cached(cache, ref(name='gone.py'), ref(name='kept.py'))
    os.utime(cache.version_file(SCOPE, stale), (1000, 1000))
    assert cache.collect_scope(SCOPE, ttl=600) == [stale]
    assert on_disk(cache) == {fresh}


def test_a_removed_version_is_fetched_again(tmp_path):
    cache = make_cache(tmp_path)
    source = Source()
    key, = cached(cache, ref(), source=source)
    cache.collect_scope(SCOPE, ttl=0)
    assert cached(cache, ref(), source=source) == [key]
    assert source.fetched == ['s.py', 's.py']


def test_bounds_remove_the_least_recently_used(tmp_path):
    cache = make_cache(tmp_path)
    keys = cached(cache, *[ref(name='s%d.py' % i) for i in range(4)])
    for i, key in enumerate(keys):
        os.utime(cache.version_file(SCOPE, key), (time.time() - 100 + i,) * 2)
    assert cache.collect_scope(SCOPE, ttl=3600, max_versions=3) == [keys[0]]
    # each version is 1000 bytes
    assert cache.collect_scope(SCOPE, ttl=3600, max_bytes=2500) == [keys[1]]
    assert on_disk(cache) == set(keys[2:])


def test_crashed_fetches_go_live_ones_stay(tmp_path):
    cache = make_cache(tmp_path)
    cached(cache, ref())
    scope_dir = cache.scope_dir(SCOPE)
    old = os.path.join(scope_dir, '.tmp-crashed')
    live = os.path.join(scope_dir, '.tmp-live')
    young = os.path.join(scope_dir, '.tmp-young')
    for path in (old, live, young):
        os.mkdir(path)
    for path in (old, live):
        past = time.time() - TMP_MIN_AGE - 10
        os.utime(path, (past, past))
    with locks.acquire(live, exclusive=True, timeout=0, create=False):
        cache.collect_scope(SCOPE, ttl=3600)
    assert not os.path.exists(old)
    assert os.path.isdir(live) and os.path.isdir(young)


def collect_in_child(root, barrier):
    cache = CodeCache(os.path.join(root, 'cache'))
    barrier.wait()
    cache.collect_scope(SCOPE, ttl=0)
    cache.empty_trash()


def test_processes_may_collect_at_once(tmp_path):
    cache = make_cache(tmp_path)
    cached(cache, *[ref(name='s%d.py' % i) for i in range(30)])
    ctx = multiprocessing.get_context('fork')
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=collect_in_child,
                         args=(str(tmp_path), barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert on_disk(cache) == set()
    cache.empty_trash()
    assert os.listdir(cache.trash) == []


def test_gateway_removes_scopes_without_sandbox(tmp_path):
    root = str(tmp_path)
    client = DirDocker(root)
    gw = DockerStorletGateway({'host_root': root, 'cache_ttl': '60'},
                              docker_client=client)
    gone, running, calling = (scope_of(a) for a in ('AUTH_gone', 'AUTH_run',
                                                    'AUTH_call'))
    for scope in (gone, running, calling):
        gw._prepare_dirs(scope)
        gw._mark_used(scope)
        os.utime(gw.usage_file(scope), (1000, 1000))
    client.add(running)
    with locks.acquire(gw.lock_file(calling)):
        gw.collect()
    for sub in ('cache', 'run'):
        assert sorted(os.listdir(os.path.join(root, sub))) == \
            sorted([running, calling])
    assert sorted(os.listdir(os.path.join(root, 'usage'))) == \
        sorted([running, calling])
    assert not os.path.exists(gw.lock_file(gone))
    assert os.listdir(os.path.join(root, 'trash')) == []
