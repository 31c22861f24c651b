"""The sample configs document exactly the options the code reads."""
import configparser
import os
import re

import pytest

from storlets.gateway.docker import DockerGatewayConfig
from storlets.middleware.config import FILTER_OPTIONS

ETC = os.path.join(os.path.dirname(__file__), '..', '..', 'etc')


def documented(path, section):
    """Options set or shown commented-out (``# name = value``) in a section."""
    names, current = set(), None
    for line in open(os.path.join(ETC, path)):
        header = re.match(r'^\[(.+)\]', line)
        if header:
            current = header.group(1)
            continue
        option = re.match(r'^#?\s?([a-z_]+) = ', line)
        if option and current == section:
            names.add(option.group(1))
    return names - {'use', 'pipeline'}


@pytest.mark.parametrize('sample', ['proxy-server.conf-sample',
                                    'object-server.conf-sample'])
def test_filter_samples_match_code(sample):
    assert documented(sample, 'filter:storlet_handler') == set(FILTER_OPTIONS)


def test_gateway_sample_matches_code():
    assert documented('storlet-docker-gateway.conf-sample', 'DEFAULT') == \
        set(DockerGatewayConfig.OPTIONS)


def test_samples_parse():
    for name in os.listdir(ETC):
        configparser.ConfigParser(interpolation=None).read(
            os.path.join(ETC, name))


def test_option_lists_match_the_config_classes():
    from dataclasses import fields
    from storlets.middleware.config import StorletConfig
    assert set(FILTER_OPTIONS) == {f.name for f in fields(StorletConfig)}
    assert set(DockerGatewayConfig.OPTIONS) == {
        f.name for f in fields(DockerGatewayConfig)}


def test_operator_guide_config_blocks_are_valid():
    """docs/operator-guide.md: its pipeline puts the filter right before
    copy, after auth; every option it sets is one the code reads."""
    guide = os.path.join(ETC, '..', 'docs', 'operator-guide.md')
    with open(guide) as f:
        blocks = re.findall(r'```ini\n(.*?)```', f.read(), re.S)
    proxy = configparser.ConfigParser(interpolation=None)
    proxy.read_string(blocks[0])
    words = proxy['pipeline:main']['pipeline'].split()
    assert words[words.index('storlet_handler') + 1] == 'copy'
    assert words.index('tempauth') < words.index('storlet_handler')
    assert set(proxy['filter:storlet_handler']) - {'use'} <= \
        set(FILTER_OPTIONS)
    account = configparser.ConfigParser(interpolation=None)
    account.read_string(blocks[1])
    from storlets.gateway.docker import ACCOUNT_OPTIONS
    assert set(account['account:AUTH_bigdata']) <= set(ACCOUNT_OPTIONS)
