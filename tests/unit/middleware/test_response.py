"""Storlet output metadata must fit in a response Swift can parse."""
import pytest

from storlets.errors import StorletRuntimeError
from storlets.middleware.response import check_output_metadata


@pytest.mark.parametrize('metadata', [
    {'color': 'blue', 'Content-Type': 'text/plain'},
    {'k%d' % i: 'v' for i in range(90)},
    {'x' * 128: 'v' * 256},
])
def test_acceptable_metadata(metadata):
    check_output_metadata(metadata)


@pytest.mark.parametrize('metadata', [
    {'k%d' % i: 'v' for i in range(91)},
    {'x' * 129: 'v'},
    {'k': 'v' * 257},
    {'k%d' % i: 'v' * 200 for i in range(21)},
    {'bad key': 'v'},
    {'k': 'line\r\nX-Injected: yes'},
    {'k\n': 'v'},
])
def test_refused_metadata(metadata):
    with pytest.raises(StorletRuntimeError):
        check_output_metadata(metadata)
