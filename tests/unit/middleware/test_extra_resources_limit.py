"""max_extra_resources: an honest default, clamped to what one SBus message
can carry, checked before any fetch, published in /info."""
import pytest
from swift.common.registry import get_swift_info

from storlets.middleware import filter_factory
from storlets.middleware.config import (
    DEFAULT_MAX_EXTRA_RESOURCES, FIXED_INVOCATION_FDS, MAX_EXTRA_RESOURCES,
    StorletConfig)
from storlets.sbus.protocol import MAX_FDS
from tests.unit.middleware.test_proxy import ACCOUNT, Setup


def config(value=None):
    conf = {'execution_server': 'proxy'}
    if value is not None:
        conf['max_extra_resources'] = value
    return StorletConfig.from_conf(conf)


def test_default_is_well_below_the_engine_cap():
    assert config().max_extra_resources == DEFAULT_MAX_EXTRA_RESOURCES == 16
    assert MAX_EXTRA_RESOURCES == MAX_FDS - FIXED_INVOCATION_FDS == 60


@pytest.mark.parametrize('value,effective', [
    ('-1', 60), ('0', 0), ('1', 1), ('60', 60)])
def test_minus_one_means_the_engine_cap(value, effective):
    assert config(value).max_extra_resources == effective


@pytest.mark.parametrize('value', ['61', '1000', '-2'])
def test_values_the_engine_cannot_carry_fail_at_load(value):
    with pytest.raises(ValueError, match='max_extra_resources must be'):
        config(value)


def test_info_publishes_the_effective_limit():
    filter_factory({}, execution_server='proxy', max_extra_resources='-1',
                   storlet_gateway_conf='/nonexistent')
    assert get_swift_info()['storlet_handler']['max_extra_resources'] == 60
    filter_factory({}, execution_server='proxy',
                   storlet_gateway_conf='/nonexistent')
    assert get_swift_info()['storlet_handler']['max_extra_resources'] == 16


def extras(n):
    return ','.join('/c/x%d' % i for i in range(n))


@pytest.mark.parametrize('method,headers', [
    ('GET', {}),
    ('PUT', {}),
    ('PUT', {'X-Copy-From': 'c/o'}),
    ('COPY', {'Destination': 'c/o2'}),
])
def test_over_the_limit_is_400_before_any_backend_read(method, headers):
    setup = Setup()
    resp = setup.request(ACCOUNT + '/c/o', method, headers=dict(
        headers, **{'X-Run-Storlet': 'identity.py',
                    'X-Storlet-Extra-Resources': extras(17)}),
        body=b'in' if method == 'PUT' and not headers else None)
    assert resp.status_int == 400
    assert resp.body == (b'Too many extra resources. 17 was requested but '
                         b'only 16 is allowed,')
    assert [c[:2] for c in setup.swift.calls
            if c[0] in ('GET', 'PUT')] == []


def test_a_failing_extra_resource_closes_the_others_and_stops():
    setup = Setup()
    for i in (0, 1, 3):
        setup.swift.register('GET', ACCOUNT + '/c/x%d' % i, 200, {}, b'x')
    resp = setup.request(ACCOUNT + '/c/o', headers={
        'X-Run-Storlet': 'identity.py',
        'X-Storlet-Extra-Resources': extras(4)})
    assert resp.status_int == 404
    assert resp.body == b'Extra resource c/x2: 404 Not Found'
    gets = [c[1] for c in setup.swift.calls if c[0] == 'GET']
    assert gets == [ACCOUNT + '/c/o', ACCOUNT + '/c/x0', ACCOUNT + '/c/x1',
                    ACCOUNT + '/c/x2']
    assert setup.swift.unclosed == []
