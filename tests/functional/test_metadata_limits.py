"""The all-in-one holds every object Swift's constraints allow.

Swift stores an object's metadata in the data file's extended attributes. On
ext4 those hold about one block, so an object with Swift's maximum user
metadata failed with 503 (``setxattr``: no space left) and counted as a node
error; the all-in-one's devices are on XFS for that reason. A storlet's
output metadata within the same limits must be stored too.
"""
import pytest
from swift.common import constraints

from tests.functional.conftest import storlet_get


def _fill(count, value_char='v'):
    """``count`` user metadata items using the whole overall size budget."""
    per_item = constraints.MAX_META_OVERALL_SIZE // count
    name_len = min(constraints.MAX_META_NAME_LENGTH, per_item // 2)
    value_len = min(constraints.MAX_META_VALUE_LENGTH, per_item - name_len)
    meta = {}
    for i in range(count):
        name = ('K%03d-' % i).ljust(name_len, 'n')
        meta[name] = value_char * value_len
    size = sum(len(k) + len(v.encode('utf-8')) for k, v in meta.items())
    assert size <= constraints.MAX_META_OVERALL_SIZE
    return meta


SHAPES = {
    # the longest names and values Swift allows, up to the overall size
    'long items': _fill(constraints.MAX_META_OVERALL_SIZE //
                        (constraints.MAX_META_NAME_LENGTH +
                         constraints.MAX_META_VALUE_LENGTH)),
    # as many items as Swift allows, within the overall size
    'many items': _fill(constraints.MAX_META_COUNT),
}


def _headers(meta):
    return {'X-Object-Meta-' + k: v for k, v in meta.items()}


def _user_meta(headers):
    prefix = 'x-object-meta-'
    return {k[len(prefix):]: v for k, v in headers.items()
            if k.startswith(prefix)}


def _lower(meta):
    return {k.lower(): v for k, v in meta.items()}


@pytest.mark.parametrize('shape', sorted(SHAPES))
def test_object_with_swifts_maximum_metadata_is_stored(conn, container,
                                                       shape):
    meta = SHAPES[shape]
    conn.put_object(container, 'o', b'data', headers=_headers(meta))
    assert _user_meta(conn.head_object(container, 'o')) == _lower(meta)


@pytest.mark.parametrize('shape', sorted(SHAPES))
def test_storlet_output_with_maximum_metadata_is_stored(conn, deployed,
                                                        container, shape):
    """identity.py copies its input's metadata to its output: a copy of an
    object with the maximum metadata stores the maximum metadata."""
    meta = SHAPES[shape]
    conn.put_object(container, 'src', b'data', headers=_headers(meta))
    conn.put_object(container, 'dst', b'', headers={
        'X-Copy-From': '%s/src' % container, 'X-Run-Storlet': 'identity.py'})
    headers, body = conn.get_object(container, 'dst')
    assert body == b'data'
    assert _user_meta(headers) == _lower(meta)
    headers, body = storlet_get(conn, container, 'src', 'identity.py')
    assert body == b'data'
    assert _user_meta(headers) == _lower(meta)
