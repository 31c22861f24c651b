"""A storlet's output metadata becomes headers Swift and HTTP can carry, or
the storlet fails: never anything else (response.output_headers)."""
import http.client
import io

import pytest
from hypothesis import example, given, settings, strategies as st
from swift.common import constraints
from swift.common.swob import Request, wsgi_to_str

from storlets.errors import StorletRuntimeError
from storlets.middleware.response import output_headers

_TOKEN_CHARS = set("!#$%&'*+.^_`|~-0123456789"
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize('metadata', [
    {'color': 'blue', 'Content-Type': 'text/plain'},
    {'k%d' % i: 'v' for i in range(90)},
    {'x' * 128: 'v' * 256},
    {'color': '日本語'},
    {'k': 'tab\tinside'},
])
def test_acceptable_metadata(metadata):
    output_headers(metadata)


@pytest.mark.parametrize('metadata', [
    {'k%d' % i: 'v' for i in range(91)},
    {'x' * 129: 'v'},
    {'k': 'v' * 257},
    {'k': 'é' * 129},               # 258 UTF-8 bytes, as Swift counts
    {'k%d' % i: 'v' * 200 for i in range(21)},
    {'': 'v'},
    {'bad key': 'v'},
    {'a:b': 'v'},
    {'Foo\r\nX-Delete-At': '1'},
    {'k\n': 'v'},
    {'k\x00': 'v'},
    {'kä': 'v'},
    {'k': 'line\r\nX-Injected: yes'},
    {'k': 'nul\x00'},
    {'k': 'nel\x85'},
    {'k': 'lone \udcff surrogate'},
    {'Content-Type': 'text/plain\r\nX-Delete-At: 1'},
    {'Content-Type': 'a' * (constraints.MAX_HEADER_SIZE + 1)},
    {'Storlet-Main': 'evil.Main'},
    {'storlet-language': 'python'},
])
def test_refused_metadata(metadata):
    with pytest.raises(StorletRuntimeError) as err:
        output_headers(metadata)
    assert str(err.value).startswith('Storlet output metadata refused: ')


def test_headers_are_wsgi_strings_of_utf8():
    headers = output_headers({'color': ' 日本語 ', 'content-type': 'tëxt/x'})
    assert headers['X-Object-Meta-Color'] == '日本語'.encode().decode('latin1')
    assert headers['Content-Type'] == 'tëxt/x'.encode().decode('latin1')


def test_last_of_same_named_keys_wins():
    headers = output_headers({'Color': 'red', 'color': 'blue'})
    assert dict(headers) == {'X-Object-Meta-Color': 'blue'}


def _wire_roundtrip(headers):
    """Headers as a server sends them, parsed back as a client/proxy does."""
    raw = b''.join(b'%s: %s\r\n' % (k.encode('latin1'), v.encode('latin1'))
                   for k, v in headers.items())
    return dict(http.client.parse_headers(io.BytesIO(raw + b'\r\n')))


ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=300)
TRICKY_KEYS = st.sampled_from([
    'color', 'Content-Type', 'content-type', 'a:b', 'Foo\r\nX-Delete-At',
    'Storlet-Main', 'k\x00', 'ключ', 'a b', 'x' * 128, 'x' * 129, 'A_b'])
TOKEN_KEYS = st.text(st.sampled_from(sorted(_TOKEN_CHARS)), min_size=1,
                     max_size=140)
KEYS = st.one_of(TRICKY_KEYS, TOKEN_KEYS, ANY_TEXT)
VALUES = st.one_of(ANY_TEXT, st.text(max_size=300),
                   st.sampled_from(['日本語', ' v ', 'a\r\nb', '\x00', 'v' * 9000]))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=100))
@example({'k': 'v' * 257})
@example({'k%d' % i: 'v' for i in range(91)})
def test_any_metadata_is_valid_headers_or_refused(metadata):
    try:
        headers = output_headers(metadata)
    except StorletRuntimeError:
        return
    expected = {}
    for key, value in metadata.items():   # last same-named key wins
        name = ('Content-Type' if key.lower() == 'content-type'
                else 'X-Object-Meta-' + key)
        expected[name.lower()] = value.strip(' \t')
    assert {k.lower() for k in headers} == set(expected)
    for name, value in headers.items():
        assert set(name) <= _TOKEN_CHARS
        assert not name.lower().startswith('x-object-meta-storlet-')
        value.encode('latin1')      # a WSGI string
        assert not set(value) & {'\r', '\n', '\x00'}
        assert wsgi_to_str(value) == expected[name.lower()]
    assert _wire_roundtrip(headers) == dict(headers)
    assert constraints.check_metadata(
        Request.blank('/', headers=dict(headers)), 'object') is None


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.text(st.sampled_from(sorted(_TOKEN_CHARS)), min_size=1, max_size=20),
    st.text(st.characters(blacklist_categories=('Cc', 'Cs')), max_size=50),
    max_size=10))
def test_metadata_within_swifts_rules_is_accepted(metadata):
    # at most 10 * (20 + 4 * 50) bytes: within every limit of Swift's
    if any(k.lower().startswith('storlet-') for k in metadata):
        with pytest.raises(StorletRuntimeError):
            output_headers(metadata)
        return
    headers = output_headers(metadata)
    for key, value in metadata.items():
        name = ('Content-Type' if key.lower() == 'content-type'
                else 'X-Object-Meta-' + key)
        assert wsgi_to_str(headers[name]) == \
            [v for k, v in metadata.items()
             if k.lower() == key.lower()][-1].strip(' \t')
