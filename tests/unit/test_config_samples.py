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
    """docs/operator-guide.md: each pipeline puts the filter right before
    copy, after auth (tempauth or keystoneauth); every option it sets is one
    the code reads."""
    from storlets.gateway.docker import ACCOUNT_OPTIONS
    guide = os.path.join(ETC, '..', 'docs', 'operator-guide.md')
    with open(guide) as f:
        blocks = re.findall(r'```ini\n(.*?)```', f.read(), re.S)
    auths, accounts = set(), 0
    for block in blocks:
        conf = configparser.ConfigParser(interpolation=None)
        conf.read_string(block)
        if conf.has_section('pipeline:main'):
            words = conf['pipeline:main']['pipeline'].split()
            assert words[words.index('storlet_handler') + 1] == 'copy'
            auth = 'tempauth' if 'tempauth' in words else 'keystoneauth'
            assert words.index(auth) < words.index('storlet_handler')
            auths.add(auth)
        if conf.has_section('filter:storlet_handler'):
            assert set(conf['filter:storlet_handler']) - {'use'} <= \
                set(FILTER_OPTIONS)
        for section in conf.sections():
            if section.startswith('account:'):
                accounts += 1
                assert set(conf[section]) <= set(ACCOUNT_OPTIONS)
    assert auths == {'tempauth', 'keystoneauth'} and accounts
