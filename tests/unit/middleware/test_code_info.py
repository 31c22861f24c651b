"""What the proxy knows about code objects (code_info): authorisation as
Swift's own read check, version facts from the newest replica, cached and
forgotten."""
from swift.common.middleware import tempauth
from swift.common.swob import Request

from storlets.middleware import code_info
from tests.unit.fake_swift import FakeSwift

ACCOUNT = 'AUTH_test'
STORLET_PATH = '/v1/AUTH_test/storlet/s.py'


class FakeCache:
    def __init__(self):
        self.store = {}

    def get(self, key):
        return self.store.get(key)

    def set(self, key, value, time=0):
        self.store[key] = value

    def delete(self, key):
        self.store.pop(key, None)


def swift_with_storlet(read_acl=''):
    swift = FakeSwift()
    swift.register('HEAD', '/v1/AUTH_test', 204)
    swift.register('HEAD', '/v1/AUTH_test/storlet', 204,
                   {'X-Container-Read': read_acl})
    swift.register('HEAD', STORLET_PATH, 200, {
        'Etag': 'abc', 'X-Timestamp': '1.00000', 'Content-Type': 'x/y',
        'X-Object-Meta-Storlet-Main': 's.S', 'X-Object-Meta-Other': 'no'})
    return swift


def request(user_groups, cache=None):
    """A request as tempauth leaves it for a user of ``user_groups``."""
    env = {'swift.cache': cache or FakeCache()}
    req = Request.blank('/v1/AUTH_test/c/o', environ=env)
    auth = tempauth.filter_factory({})(lambda e, s: None)
    req.environ['REMOTE_USER'] = ','.join(user_groups)
    req.environ['swift.authorize'] = auth.authorize
    return req


def test_the_account_owner_may_read_the_storlet():
    swift = swift_with_storlet()
    req = request(['test:tester', 'test', 'AUTH_test'])
    assert code_info.may_read(req, swift, ACCOUNT, 'storlet', 's.py')


def test_another_user_needs_the_storlet_containers_read_acl():
    groups = ['test2:tester2', 'test2', 'AUTH_test2']
    assert not code_info.may_read(request(groups), swift_with_storlet(),
                                  ACCOUNT, 'storlet', 's.py')
    assert code_info.may_read(request(groups),
                              swift_with_storlet('test2:tester2'),
                              ACCOUNT, 'storlet', 's.py')


def test_a_missing_container_is_never_readable():
    req = request(['test:tester', 'test', 'AUTH_test'])
    assert not code_info.may_read(req, FakeSwift(), ACCOUNT, 'storlet',
                                  's.py')


def test_facts_come_from_the_newest_replica_once_then_from_the_cache():
    swift, cache = swift_with_storlet(), FakeCache()
    req = request(['test:tester'], cache)
    facts = code_info.object_facts(req, swift, ACCOUNT, 'storlet', 's.py')
    assert facts == {'etag': 'abc', 'x-timestamp': '1.00000',
                     'x-object-meta-storlet-main': 's.S'}
    heads = swift.call_headers('HEAD', STORLET_PATH)
    assert len(heads) == 1 and heads[0]['X-Newest'] == 'true'
    assert code_info.object_facts(req, swift, ACCOUNT, 'storlet',
                                  's.py') == facts
    assert len(swift.call_headers('HEAD', STORLET_PATH)) == 1
    code_info.forget(req.environ, ACCOUNT, 'storlet', 's.py')
    code_info.object_facts(req, swift, ACCOUNT, 'storlet', 's.py')
    assert len(swift.call_headers('HEAD', STORLET_PATH)) == 2
    assert swift.unclosed == []


def test_a_missing_object_has_no_facts_and_that_is_cached_too():
    swift, cache = FakeSwift(), FakeCache()
    req = request(['test:tester'], cache)
    assert code_info.object_facts(req, swift, ACCOUNT, 'storlet',
                                  'gone.py') is None
    assert cache.get(code_info.cache_key(ACCOUNT, 'storlet',
                                         'gone.py')) == {}
