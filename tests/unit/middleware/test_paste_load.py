"""The filter as an operator deploys it: loaded by PasteDeploy from a
pipeline naming ``egg:storlets#storlet_handler``, publishing /info, and
passing requests that are not storlet requests through untouched."""
import pytest
from paste.deploy import loadapp
from swift.common.registry import get_swift_info
from swift.common.swob import Request, Response

from storlets import languages
from storlets.gateway.registration import INTERFACE_VERSION
from storlets.middleware import StorletMiddleware
from storlets.middleware.object import ObjectHandler
from storlets.middleware.proxy import ProxyHandler

CONF = '''
[pipeline:main]
pipeline = storlet_handler app

[filter:storlet_handler]
use = egg:storlets#storlet_handler
execution_server = %(server)s
storlet_gateway_module = stub
storlet_container = mystorlets
max_extra_resources = 5

[app:app]
use = call:tests.unit.middleware.test_paste_load:app_factory
'''


def app_factory(global_conf, **local_conf):
    def app(env, start_response):
        return Response(body=b'from swift')(env, start_response)
    return app


def load(tmp_path, server):
    path = tmp_path / ('%s.conf' % server)
    path.write_text(CONF % {'server': server})
    return loadapp('config:%s' % path)


@pytest.mark.parametrize('server, handler', [
    ('proxy', ProxyHandler), ('object', ObjectHandler)])
def test_paste_loads_the_filter(tmp_path, server, handler):
    app = load(tmp_path, server)
    assert isinstance(app, StorletMiddleware)
    assert isinstance(app.handler, handler)
    assert app.config.storlet_container == 'mystorlets'
    resp = Request.blank('/v1/AUTH_a/c/o').get_response(app)
    assert resp.body == b'from swift'


def test_info_says_what_this_proxy_offers(tmp_path):
    load(tmp_path, 'proxy')
    info = get_swift_info()['storlet_handler']
    assert info['storlet_container'] == 'mystorlets'
    assert info['max_extra_resources'] == 5
    assert info['languages'] == list(languages.LANGUAGES)
    assert info['interface_version'] == INTERFACE_VERSION
    assert info['storlet_gateway_class'] == 'StubStorletGateway'
