"""The one parse of an invocation (InvocationRequest.parse): what it reads,
and that any request gives a value or a clean 4xx, never anything else."""
import pytest
from hypothesis import given, settings, strategies as st
from swift.common.swob import HTTPException, Request

from storlets.middleware.invocation_request import (
    COPY, GET, PUT, InvocationRequest)


def parse(method='GET', headers=None, path='/v1/AUTH_a/c/o', query='',
          max_extra=16, client=True):
    req = Request.blank(path, environ={'REQUEST_METHOD': method,
                                       'QUERY_STRING': query},
                        headers=headers or {})
    return InvocationRequest.parse(req, 'c', 'o', max_extra, client=client)


def status(**kwargs):
    with pytest.raises(HTTPException) as err:
        parse(**kwargs)
    return err.value.status_int, err.value.body


def test_no_storlet_is_not_an_invocation():
    assert parse(headers={'X-Storlet-Parameter-1': 'a:b'}) is None


def test_a_get_with_everything():
    inv = parse(headers={'X-Run-Storlet': 's.py',
                         'X-Storlet-Parameter-1': 'a:1',
                         'X-Storlet-Range': 'bytes=2-5',
                         'X-Storlet-Extra-Resources': 'c2/o2, /c3/o3',
                         'X-Storlet-Run-On-Proxy': ''},
                query='b=2&a=0')
    assert (inv.kind, inv.storlets, inv.storlet) == (GET, ('s.py',), 's.py')
    assert inv.params == {'a': '1', 'b': '2'}      # the header wins
    assert inv.storlet_range.ranges == [(2, 5)] and not inv.multi_range
    assert inv.extra_resources == (('c2', 'o2'), ('c3', 'o3'))
    assert inv.run_on_proxy and inv.copy is None


def test_copies_name_source_and_destination():
    put = parse('PUT', {'X-Run-Storlet': 's.py', 'X-Copy-From': 'src/a%20b'})
    assert (put.kind, put.copy.source, put.copy.destination) == (
        COPY, ('src', 'a b'), ('c', 'o'))
    copy = parse('COPY', {'X-Run-Storlet': 's.py', 'Destination': '/d/x'})
    assert (copy.copy.source, copy.copy.destination) == (('c', 'o'),
                                                         ('d', 'x'))
    assert parse('PUT', {'X-Run-Storlet': 's.py'}).kind == PUT


def test_a_copy_source_from_the_path_is_decoded_once():
    """COPY's source is the request path, already decoded by Swift: an
    object named ``a%41b`` is that object, not ``aAb``."""
    req = Request.blank('/v1/AUTH_a/c/a%2541b',
                        environ={'REQUEST_METHOD': 'COPY'},
                        headers={'X-Run-Storlet': 's.py',
                                 'Destination': 'd/x'})
    _v, _a, container, obj = req.split_path(4, 4, True)
    inv = InvocationRequest.parse(req, container, obj, 16)
    assert inv.copy.source == ('c', 'a%41b')


@pytest.mark.parametrize('kwargs, expected', [
    (dict(headers={'X-Run-Storlet': ' '}), 400),
    (dict(headers={'X-Run-Storlet': '..'}), 400),
    (dict(headers={'X-Run-Storlet': 's.py', 'Range': 'bytes=0-1'}), 400),
    (dict(method='COPY', headers={'X-Run-Storlet': 's.py',
                                  'Range': 'bytes=0-1',
                                  'Destination': 'd/x'}), 400),
    (dict(headers={'X-Run-Storlet': 's.py', 'X-Storlet-Range': 'x'}), 400),
    (dict(headers={'X-Run-Storlet': 's.py',
                   'X-Storlet-Parameter-1': 'nocolon'}), 400),
    (dict(headers={'X-Run-Storlet': 's.py'}, query='storlet_x=1'), 400),
    (dict(headers={'X-Run-Storlet': 's.py',
                   'X-Storlet-Extra-Resources': 'a/b,c/d'}, max_extra=1),
     400),
    (dict(headers={'X-Run-Storlet': 's.py',
                   'X-Storlet-Extra-Resources': 'a/b'}, max_extra=0), 403),
    (dict(headers={'X-Run-Storlet': 's.py', 'X-Storlet-Run-On-Proxy': 'y'}),
     400),
    (dict(method='HEAD', headers={'X-Run-Storlet': 's.py'}), 405),
    (dict(method='POST', headers={'X-Run-Storlet': 's.py'}), 405),
    (dict(method='COPY', headers={'X-Run-Storlet': 's.py'}), 412),
    (dict(method='PUT', headers={'X-Run-Storlet': 's.py',
                                 'X-Copy-From': 'nocontainer'}), 412),
    (dict(method='PUT', headers={'X-Run-Storlet': 's.py',
                                 'X-Copy-From': 'c/o',
                                 'X-Copy-From-Account': 'AUTH_b'}), 400),
])
def test_every_bad_request_is_refused_here(kwargs, expected):
    assert status(**kwargs)[0] == expected


def test_on_an_object_server_a_range_is_left_to_the_handler():
    inv = parse(headers={'X-Run-Storlet': 's.py', 'Range': 'bytes=0-1'},
                client=False)
    assert inv.kind == GET


HEADER_VALUES = st.text(st.characters(min_codepoint=0, max_codepoint=0xff),
                        max_size=40)


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(['GET', 'PUT', 'COPY', 'POST', 'HEAD']),
       headers=st.dictionaries(
           st.sampled_from(['X-Run-Storlet', 'X-Storlet-Parameter-1',
                            'X-Storlet-Range', 'X-Storlet-Extra-Resources',
                            'X-Storlet-Run-On-Proxy', 'Range', 'X-Copy-From',
                            'Destination', 'X-Copy-From-Account']),
           HEADER_VALUES),
       query=st.text(max_size=30))
def test_any_request_is_a_value_or_a_4xx(method, headers, query):
    headers = {k: v.replace('\r', '').replace('\n', '')
               for k, v in headers.items()}
    try:
        inv = parse(method, headers, query=query.replace('#', ''))
    except HTTPException as err:
        served = Request.blank('/').get_response(err)
        assert 400 <= served.status_int < 500
        assert served.body or method == 'HEAD'     # HEAD has no body
        return
    if inv is not None:
        assert inv.kind in (GET, PUT, COPY) and inv.storlet
        assert (inv.kind == COPY) == (inv.copy is not None)
