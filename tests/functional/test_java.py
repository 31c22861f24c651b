"""Java storlets end to end against the all-in-one (real Swift, real JVMs).

Every sample of ``java/samples`` runs on GET, on PUT and on copy (both
forms: PUT with ``X-Copy-From`` and the ``COPY`` verb with
``Destination``), each on an object server and again with
``X-Storlet-Run-On-Proxy:``; the results (bytes, metadata, what is stored)
are checked exactly. Then: ranged GETs (half, identity, the partition
samples splitting a generated file into records), a crashing and a hanging
Java storlet (the right status, nothing stored, nothing left behind, the
JVM survives), ten concurrent calls in one JVM, and a storlet compiled here
with only ``javac`` against the API jar and deployed with ``swift upload``.

The jars come from ``java_build`` (``STORLETS_JAVA_BUILD``, or a build of
our own); the ``java_samples`` fixture deploys them once per session.
Twelve Java storlets run in the tester's account, more than the JVMs a
sandbox keeps (``max_java_daemons``, 4): the least recently used JVMs are
stopped and come back on their next call, which these tests exercise too.
"""
import gzip
import hashlib
import random
import re
import struct
import threading
import time
import uuid
import zlib

import pytest
from swiftclient import ClientException

from tests.functional.conftest import (
    connection, object_absent, storlet_get, storlet_headers, swift_cli)
from tests.functional.java_build import compile_jar, java_build
from tests.functional.leaks import (
    JAVA_DAEMON_CLASS, OBJECT_NODE, PROXY_NODE, gateway_conf, no_leaks,
    sandbox, sandbox_processes, storlet_timeout)

STORLET_CONTAINER = 'storlet'
DEPENDENCY_CONTAINER = 'dependency'
LOG_CONTAINER = 'storletlog'

IDENTITY = 'identitystorlet-1.0.jar'
TEST1 = 'test-1.0.jar'
HALF = 'halfstorlet-1.0.jar'
EXECDEP = 'execdepstorlet-1.0.jar'
COMPRESS = 'compressstorlet-1.0.jar'
THUMBNAIL = 'thumbnail-1.0.jar'
METADATA = 'testmetadatastorlet-1.0.jar'
MULTIINPUT = 'multiinputstorlet-1.0.jar'
PARTITIONS = 'partitionsidentitystorlet-1.0.jar'
CSV = 'csvstorlet-1.0.jar'
#: Every sample jar and its Main class.
SAMPLES = {
    IDENTITY: 'org.openstack.storlet.identity.IdentityStorlet',
    TEST1: 'org.openstack.storlet.test.test1',
    HALF: 'org.openstack.storlet.half.HalfStorlet',
    EXECDEP: 'org.openstack.storlet.execdep.ExecDepStorlet',
    COMPRESS: 'org.openstack.storlet.compress.CompressStorlet',
    THUMBNAIL: 'org.openstack.storlet.thumbnail.ThumbnailStorlet',
    METADATA: 'org.openstack.storlet.testmetadatastorlet.MetadataStorlet',
    MULTIINPUT: 'org.openstack.storlet.multiinput.MultiInputStorlet',
    PARTITIONS: 'org.openstack.storlet.PartitionsIdentityStorlet',
    CSV: 'org.openstack.storlet.csv.CSVStorlet',
}
#: The samples' executable dependency, and who needs it.
GET42 = 'get42'
USES_GET42 = (IDENTITY, EXECDEP)

#: How a storlet is invoked: GET, PUT, copy with X-Copy-From, COPY verb.
HOWS = ['get', 'put', 'copy-from', 'copy-verb']
FAILED = b'Storlet execution failed'
TIMED_OUT = b'Storlet execution timed out'
STORLET_TIMEOUT = storlet_timeout()
#: A hung GET must end within this (storlet_timeout plus Swift's slack).
HANG_LIMIT = 40.0

HALF_IN = b'abcdefghijklmonp'
HALF_OUT = b'acegikmn'
#: User metadata put on every input object (or on the PUT itself).
ORIGIN = {'Origin': 'java-functional'}

# The upper-casing storlet compiled by a test with javac alone.
UPPER = 'upper-1.0.jar'
UPPER_MAIN = 'org.example.upper.UpperStorlet'
UPPER_SOURCE = '''\
package org.example.upper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/** Upper-cases ASCII letters; meta = input meta + Upper-Cased: yes. */
public class UpperStorlet implements IStorlet {
    @Override
    public void invoke(ArrayList<StorletInputStream> inStreams,
                       ArrayList<StorletOutputStream> outStreams,
                       Map<String, String> parameters, StorletLogger logger)
            throws StorletException {
        StorletInputStream input = inStreams.get(0);
        StorletObjectOutputStream output =
            (StorletObjectOutputStream) outStreams.get(0);
        try {
            HashMap<String, String> md =
                new HashMap<String, String>(input.getMetadata());
            md.put("Upper-Cased", "yes");
            output.setMetadata(md);
            InputStream in = input.getStream();
            OutputStream out = output.getStream();
            byte[] buffer = new byte[65536];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                for (int i = 0; i < n; i++) {
                    if (buffer[i] >= 'a' && buffer[i] <= 'z') {
                        buffer[i] -= 'a' - 'A';
                    }
                }
                out.write(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new StorletException("UpperStorlet: " + e.getMessage());
        } finally {
            output.close();
        }
    }
}
'''


# -- deployment ---------------------------------------------------------------

def ensure_object(conn, container, name, body, headers):
    """PUT ``name`` unless the same bytes with the same headers are there
    already (so that a re-run keeps the daemons that are warm)."""
    try:
        have = conn.head_object(container, name)
    except ClientException as err:
        if err.http_status != 404:
            raise
        have = {}
    if have.get('etag') != hashlib.md5(body).hexdigest() or any(
            have.get(k.lower()) != v for k, v in headers.items()):
        conn.put_object(container, name, body, headers=headers)


def account_of(conn):
    """The account of an authenticated connection."""
    if conn.url is None:
        conn.get_auth()
    return conn.url.rstrip('/').rsplit('/', 1)[-1]


def java_storlet_headers(main, dependencies=()):
    extra = {}
    if dependencies:
        extra['X-Object-Meta-Storlet-Dependency'] = ','.join(dependencies)
    return storlet_headers(main, language='Java', **extra)


@pytest.fixture(scope='session')
def account(conn):
    """The tester's account (``AUTH_test``), where the storlets run."""
    return account_of(conn)


#: The all-in-one's sandbox image without a JVM (``STORLETS_AIO_JAVA=0``).
PYTHON_ONLY_IMAGE = 'storlets-sandbox:'
SANDBOX_IMAGE = gateway_conf().get('sandbox_image', '')

# With the Java image (the all-in-one's default) every test here runs, and a
# missing JDK or build is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    SANDBOX_IMAGE.startswith(PYTHON_ONLY_IMAGE),
    reason='requires the Java sandbox image; %s has no JVM (all-in-one '
           'built with STORLETS_AIO_JAVA=0)' % SANDBOX_IMAGE)


@pytest.fixture(scope='session')
def jbuild():
    return java_build()


@pytest.fixture(scope='session')
def java_samples(conn, jbuild):
    """Every sample jar deployed to ``storlet`` (get42 as a 0755
    dependency of identity and execdep), once per session."""
    with open(jbuild.get42, 'rb') as f:
        ensure_object(conn, DEPENDENCY_CONTAINER, GET42, f.read(), {
            'X-Object-Meta-Storlet-Dependency-Version': '1',
            'X-Object-Meta-Storlet-Dependency-Permissions': '0755'})
    built = jbuild.sample_jars()
    assert sorted(built) == sorted(SAMPLES), 'samples built vs. tested'
    for name, main in SAMPLES.items():
        with open(built[name], 'rb') as f:
            ensure_object(conn, STORLET_CONTAINER, name, f.read(),
                          java_storlet_headers(
                              main, [GET42] if name in USES_GET42 else []))
    return SAMPLES


PRIVATE_PREFIX = 'javatest-'


@pytest.fixture(scope='module')
def private_test1(conn, jbuild, java_samples):
    """test1 under a name of its own, so that its daemon, hence its JVM,
    serves this module alone (see ``jvm_pids``).

    The name comes from the jar's content: a re-run with the same build
    finds it deployed and its JVM still warm, instead of starting one more
    JVM in the sandbox; copies from other builds are removed.
    """
    with open(jbuild.sample_jar(TEST1), 'rb') as f:
        jar = f.read()
    name = '%s%s-1.0.jar' % (PRIVATE_PREFIX, hashlib.md5(jar).hexdigest()[:12])
    for old in conn.get_container(STORLET_CONTAINER, prefix=PRIVATE_PREFIX,
                                  full_listing=True)[1]:
        if old['name'] != name:
            conn.delete_object(STORLET_CONTAINER, old['name'])
    ensure_object(conn, STORLET_CONTAINER, name, jar,
                  java_storlet_headers(SAMPLES[TEST1]))
    return name


def jvm_pids(account, storlet, placement):
    """Host pids of the JVMs running ``storlet`` (a jar name) in the
    account's sandbox on the node a call with ``placement`` runs on (the
    proxy's, or the object node the proxy reads first)."""
    node = PROXY_NODE if placement else OBJECT_NODE
    container = sandbox(account, node)
    if container is None:
        return set()
    return {pid for pid, _, _, args in sandbox_processes(container)
            if JAVA_DAEMON_CLASS in args.split() and '/' + storlet in args}


# -- invocation helpers -------------------------------------------------------

def params(**kwargs):
    """X-Storlet-Parameter-<n> headers for ``kwargs``."""
    return {'X-Storlet-Parameter-%d' % i: '%s:%s' % kv
            for i, kv in enumerate(sorted(kwargs.items()), 1)}


def meta_headers(meta):
    return {'X-Object-Meta-%s' % k: v for k, v in meta.items()}


def user_meta(headers):
    """{key: value} of the X-Object-Meta-* headers, keys lower-cased and
    with ``_`` as ``-``: a GET's response shows the storlet's keys as they
    are, but a stored object has them through WSGI, where ``_`` and ``-``
    in a header name are the same (``chunk_size`` is kept as
    ``Chunk-Size``, as for any client metadata)."""
    prefix = 'x-object-meta-'
    return {k[len(prefix):].replace('_', '-'): v for k, v in headers.items()
            if k.startswith(prefix)}


def invoke(conn, container, how, storlet, data, meta=None, headers=None,
           content_type=None):
    """Run ``storlet`` over ``data`` (with user metadata ``meta``) as
    ``how`` says and return ``(headers, body)`` of the result: the GET's
    response, or the object the PUT or copy stored (``dst``).

    For a GET, the object is ``src``; for a copy, ``src`` is the source,
    which must come out untouched.
    """
    meta = dict(ORIGIN, **(meta or {}))
    request = dict(headers or {}, **{'X-Run-Storlet': storlet})
    proxy = ('X-Storlet-Run-On-Proxy' in request
             or 'X-Storlet-Extra-Resources' in request)
    if how == 'put':
        resp = {}
        conn.put_object(container, 'dst', data, content_type=content_type,
                        headers=dict(request, **meta_headers(meta)),
                        response_dict=resp)
        assert resp['status'] == 201
    else:
        conn.put_object(container, 'src', data, content_type=content_type,
                        headers=meta_headers(meta))
        if how == 'get':
            got_headers, body = conn.get_object(container, 'src',
                                                headers=request)
            assert got_headers['x-storlet-executed'] == (
                'proxy' if proxy else 'object')
            assert 'etag' not in got_headers
            return got_headers, body
        resp = {}
        if how == 'copy-verb':
            conn.copy_object(container, 'src', '/%s/dst' % container,
                             headers=request, response_dict=resp)
        else:
            assert how == 'copy-from', how
            conn.put_object(container, 'dst', None, headers=dict(
                request, **{'X-Copy-From': '%s/src' % container}),
                response_dict=resp)
        assert resp['status'] == 201
        assert resp['headers']['x-storlet-generated-from'] == \
            '%s/src' % container
        assert resp['headers']['x-storlet-generated-from-account'] == \
            account_of(conn)
        src_headers, src_body = conn.get_object(container, 'src')
        assert src_body == data
        assert user_meta(src_headers) == {k.lower(): v
                                          for k, v in meta.items()}
    stored_headers, body = conn.get_object(container, 'dst')
    assert stored_headers['etag'] == hashlib.md5(body).hexdigest()
    return stored_headers, body


@pytest.fixture(params=HOWS)
def how(request):
    """GET, PUT, PUT with X-Copy-From, COPY with Destination."""
    return request.param


def assert_origin_kept(headers):
    assert headers['x-object-meta-origin'] == ORIGIN['Origin']


# -- fixtures' data, generated deterministically ------------------------------

def binary_data(size, seed):
    """``size`` deterministic bytes, every byte value (NULs included)."""
    return random.Random(seed).randbytes(size)


def text_data(lines, seed):
    """Compressible text: words from a small vocabulary."""
    rng = random.Random(seed)
    words = [b'storlet', b'swift', b'object', b'java', b'stream', b'proxy',
             b'sandbox', b'record', b'gzip', b'daemon']
    return b''.join(b' '.join(rng.choice(words) for _ in range(12)) + b'\n'
                    for _ in range(lines))


def records_data(count=3000, seed=1729):
    """Lines of length 1 to ~260 (some empty), the last one without a
    newline; returns (data, max_record_line)."""
    rng = random.Random(seed)
    alphabet = b'abcdefghijklmnopqrstuvwxyz0123456789 ,;'
    lines = []
    for i in range(count):
        if rng.random() < 0.03:
            lines.append(b'\n')
            continue
        body = bytes(rng.choice(alphabet)
                     for _ in range(rng.choice([0, 3, 40, 120, 250])
                                    + rng.randint(0, 9)))
        lines.append(b'%05d:' % i + body + b'\n')
    lines.append(b'last record without a newline')
    return b''.join(lines), max(len(line) for line in lines)


COUNTRIES = ['FRA', 'DEU', 'USA', 'ITA', 'ESP', 'GBR', 'BEL', 'NLD', 'CHE',
             'FRAN', 'XFRA']
CITIES = ['Paris', 'Berlin', 'FRA', 'Rome', 'Madrid', 'London', 'Lyon']
CSV_HEADER = b'meter_id,reading,kwh,voltage,date,city,country,status'


def csv_rows(size, seed=42):
    """Rows (lists of str) of a meter-readings CSV of about ``size`` bytes
    (header first); country codes in column 6, dates in column 4."""
    rng = random.Random(seed)
    rows = [CSV_HEADER.decode().split(',')]
    total = len(CSV_HEADER) + 1
    reading = 0
    while total < size:
        reading += 1
        row = ['m%04d' % rng.randint(0, 999), str(reading),
               '%.3f' % (rng.random() * 50), str(rng.choice([110, 230, 240])),
               '2015-%02d-%02d' % (rng.randint(1, 12), rng.randint(1, 28)),
               rng.choice(CITIES), rng.choice(COUNTRIES),
               rng.choice(['ok', 'estimated', 'FRA', ''])]
        rows.append(row)
        total += len(','.join(row)) + 1
    return rows


def csv_bytes(rows):
    return b''.join(','.join(row).encode() + b'\n' for row in rows)


def csv_expected(rows, country='FRA', columns=(4, 6)):
    """What ``EqualTo(6,<country>)`` with ``selected_columns`` gives."""
    return [','.join(row[c] for c in columns).encode()
            for row in rows if len(row) > 6 and row[6] == country]


def partition_params(start, end, max_record_line, first):
    return dict(start=start, end=end, max_record_line=max_record_line,
                first_partition='true' if first else 'false')


def partitions(bounds, size):
    """[(start, end, first)] for partitions ending at ``bounds`` (and at
    the last byte): [0, b0], [b0 + 1, b1], ..., [bk + 1, size - 1]."""
    ends = sorted(set(bounds) | {size - 1})
    starts = [0] + [end + 1 for end in ends[:-1]]
    return [(s, e, i == 0) for i, (s, e) in enumerate(zip(starts, ends))]


# -- PNG, written and read without an imaging library -------------------------

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_chunk(kind, data):
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data)))


def png_encode(width, height, pixel):
    """An 8-bit RGB PNG; ``pixel(x, y)`` gives (r, g, b)."""
    raw = b''.join(b'\0' + bytes(c for x in range(width)
                                 for c in pixel(x, y))
                   for y in range(height))
    return (PNG_SIGNATURE
            + png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2,
                                             0, 0, 0))
            + png_chunk(b'IDAT', zlib.compress(raw, 9))
            + png_chunk(b'IEND', b''))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_decode(data):
    """(width, height, rows of (r, g, b)) of an 8-bit, non-interlaced RGB
    or RGBA PNG (what the JDK's encoder writes); checks every CRC."""
    assert data[:8] == PNG_SIGNATURE, data[:16]
    pos, idat, header = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2,
                                  _paeth(a, b, c))[kind]) & 0xff
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


IMAGE_SIZE = (240, 160)
THUMB_SIZE = (30, 20)


def two_tone_pixel(x, y):
    """Left half red, right half blue, with some deterministic texture."""
    noise = (x * 7 + y * 13) % 23
    if x < IMAGE_SIZE[0] // 2:
        return (200 + noise, 20 + noise, 20)
    return (20, 20 + noise, 200 + noise)


# == every sample, on GET, PUT and copy, on an object server and the proxy ====

def test_identity_copies_binary_and_reports_parameters(
        conn, java_samples, container, placement, how):
    data = binary_data(2500, seed=1) + b'\0\0\0end'
    headers, body = invoke(conn, container, how, IDENTITY, data, headers=dict(
        placement, **params(execute='true', double='true', chunk_size=1000)))
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    assert body == b''.join(chunk + chunk for chunk in chunks)
    meta = user_meta(headers)
    assert meta['execution-result'] == '42'
    assert meta['parameter-execute'] == 'true'
    assert meta['parameter-double'] == 'true'
    assert meta['parameter-chunk-size'] == '1000'
    assert meta['parameter-storlet-execution-path'].startswith('/')
    assert_origin_kept(headers)


def test_identity_plain_copy_is_exact(conn, java_samples, container,
                                      placement, how):
    data = binary_data(300 * 1024 + 7, seed=2)
    headers, body = invoke(conn, container, how, IDENTITY, data,
                           headers=placement)
    assert body == data
    assert 'x-object-meta-execution-result' not in headers
    assert_origin_kept(headers)


def test_test1_print_writes_sorted_parameters(conn, java_samples, container,
                                              placement, how):
    headers, body = invoke(conn, container, how, TEST1, b'ignored input',
                           headers=dict(placement, **params(
                               op='print', greeting='hello:world',
                               zebra='last')))
    assert re.fullmatch(
        rb'greeting    hello:world\nop    print\n'
        rb'storlet_execution_path    /\S+\n'
        rb'storlet_scratch_dir    /tmp/\S+\nzebra    last\n', body), body
    assert_origin_kept(headers)


def test_test1_print_with_query_parameters(conn, java_samples, container,
                                           placement):
    conn.put_object(container, 'o', b'x')
    _, body = storlet_get(conn, container, 'o', TEST1, placement,
                          query='op=print&a=1&b=two%20words')
    assert re.fullmatch(rb'a    1\nb    two words\nop    print\n'
                        rb'storlet_execution_path    /\S+\n'
                        rb'storlet_scratch_dir    /tmp/\S+\n', body), body


def test_half_keeps_even_bytes(conn, java_samples, container, placement,
                               how):
    headers, body = invoke(conn, container, how, HALF, HALF_IN,
                           headers=placement)
    assert body == HALF_OUT
    assert_origin_kept(headers)


def test_execdep_runs_its_executable_dependency(conn, java_samples, container,
                                               placement, how):
    headers, body = invoke(conn, container, how, EXECDEP, b'some input',
                           headers=placement)
    assert body == b''
    assert headers['x-object-meta-depend-ret-code'] == '42'
    assert_origin_kept(headers)


def test_compress_gzips_and_uncompress_restores(conn, java_samples,
                                                container, placement, how):
    data = text_data(4000, seed=3)
    headers, body = invoke(conn, container, how, COMPRESS, data,
                           headers=placement)
    assert body[:2] == b'\x1f\x8b'
    assert len(body) < len(data) // 3
    assert gzip.decompress(body) == data
    assert_origin_kept(headers)
    # a PUT or copy stored the gzip bytes in dst; GET uncompress restores
    compressed = 'dst'
    if how == 'get':
        compressed = 'gz'
        conn.put_object(container, compressed, body)
    _, restored = storlet_get(conn, container, compressed, COMPRESS,
                              dict(placement, **params(action='uncompress')))
    assert restored == data


def test_thumbnail_is_an_eighth_of_the_image(conn, java_samples, container,
                                             placement, how):
    image = png_encode(IMAGE_SIZE[0], IMAGE_SIZE[1], two_tone_pixel)
    headers, body = invoke(conn, container, how, THUMBNAIL, image,
                           meta={'Photographer': 'tester'},
                           headers=placement, content_type='image/png')
    assert len(body) < len(image)
    width, height, rows = png_decode(body)
    assert (width, height) == THUMB_SIZE
    # colours survive the bilinear scaling away from the border
    red, blue = rows[height // 2][3], rows[height // 2][width - 4]
    assert red[0] > 180 and red[2] < 60, red
    assert blue[2] > 180 and blue[0] < 60, blue
    assert headers['x-object-meta-photographer'] == 'tester'
    assert headers['content-type'] == 'image/png'
    assert_origin_kept(headers)


def test_metadata_storlet_keeps_ten_keys_and_adds_one(
        conn, java_samples, container, placement, how):
    meta = {'Key%d' % i: 'value-%d' % i for i in range(10)}
    data = text_data(2000, seed=4)      # far more than the 100 bytes read
    headers, body = invoke(conn, container, how, METADATA, data, meta=meta,
                           headers=placement)
    assert body == b'1234567890'
    got = user_meta(headers)
    for i in range(10):
        assert got['key%d' % i] == 'value-%d' % i
    assert got['override-key'] == 'new_value'
    assert_origin_kept(headers)


def test_multiinput_concatenates_extra_resources(conn, java_samples,
                                                 container, placement, how):
    conn.put_object(container, 'x1', b'<first extra>',
                    headers=meta_headers({'Shared': 'x1', 'From-X1': 'yes'}))
    conn.put_object(container, 'x2', binary_data(70000, seed=5),
                    headers=meta_headers({'Shared': 'x2'}))
    main = binary_data(100000, seed=6)
    headers, body = invoke(
        conn, container, how, MULTIINPUT, main,
        meta={'Shared': 'main', 'From-Main': 'yes'},
        headers=dict(placement, **{'X-Storlet-Extra-Resources':
                                   '/{0}/x1, {0}/x2'.format(container)}))
    assert body == main + b'<first extra>' + binary_data(70000, seed=5)
    got = user_meta(headers)
    assert got['shared'] == 'x2'        # later inputs win
    assert got['from-main'] == 'yes'
    assert got['from-x1'] == 'yes'
    assert_origin_kept(headers)


def test_partitions_identity_whole_file_as_one_partition(
        conn, java_samples, container, placement, how):
    data, longest = records_data(count=400, seed=7)
    headers, body = invoke(
        conn, container, how, PARTITIONS, data, headers=dict(
            placement, **params(**partition_params(0, len(data) - 1, longest,
                                                   True))))
    assert body == data
    assert_origin_kept(headers)


def test_csv_filters_and_projects(conn, java_samples, container, placement,
                                  how):
    rows = csv_rows(30000, seed=8)
    data = csv_bytes(rows)
    longest = max(len(line) + 1 for line in data.split(b'\n'))
    headers, body = invoke(conn, container, how, CSV, data, headers=dict(
        placement, **params(where_clause='EqualTo(6,FRA)',
                            selected_columns='4,6',
                            **partition_params(0, len(data) - 1, longest,
                                               True))))
    expected = csv_expected(rows)
    assert len(expected) > 20
    assert body == b''.join(row + b'\n' for row in expected)
    assert_origin_kept(headers)


# == ranged GETs ==============================================================

def test_half_with_storlet_range(conn, java_samples, container, placement):
    conn.put_object(container, 'o', HALF_IN)
    headers, body = storlet_get(conn, container, 'o', HALF, dict(
        placement, **{'X-Storlet-Range': 'bytes=5-10'}))
    assert body == b'fhj'
    assert headers['storlet-input-range'] == 'bytes 5-10/16'
    assert headers['x-storlet-executed'] == ('proxy' if placement
                                             else 'object')


IDENTITY_RANGE_DATA = 1024 * 1024 + 13


@pytest.mark.parametrize('value,first,last', [
    ('bytes=1000-700000', 1000, 700000),
    ('bytes=1048000-', 1048000, IDENTITY_RANGE_DATA - 1),
    ('bytes=-5000', IDENTITY_RANGE_DATA - 5000, IDENTITY_RANGE_DATA - 1),
    ('bytes=0-0', 0, 0),
])
def test_identity_with_storlet_range(conn, java_samples, container, placement,
                                     value, first, last):
    data = binary_data(IDENTITY_RANGE_DATA, seed=9)
    conn.put_object(container, 'o', data)
    headers, body = storlet_get(conn, container, 'o', IDENTITY, dict(
        placement, **{'X-Storlet-Range': value}))
    assert body == data[first:last + 1]
    assert headers['storlet-input-range'] == 'bytes %d-%d/%d' % (
        first, last, len(data))


def test_partitions_identity_splits_records_exactly(conn, java_samples,
                                                    container, placement):
    data, longest = records_data()
    newlines = [i for i, byte in enumerate(data) if byte == ord('\n')]
    bounds = [
        newlines[100],                  # end on a newline
        newlines[400] - 1,              # end just before a newline
        newlines[700] + 1,              # end on the 2nd byte of a line
        newlines[700] + 2,              # a one-byte partition
        len(data) // 2 + 17,            # anywhere
        newlines[2000], newlines[2001],  # a partition of one line
        newlines[-1],                   # the last newline
        len(data) - 5,                  # inside the unterminated last line
    ]
    parts = partitions(bounds, len(data))
    assert len(parts) == 10
    conn.put_object(container, 'o', data)
    outputs = []
    for start, end, first in parts:
        _, body = storlet_get(conn, container, 'o', PARTITIONS, dict(
            placement, **{'X-Storlet-Range': 'bytes=%d-%d' % (
                start, end + longest)},
            **params(**partition_params(start, end, longest, first))))
        outputs.append(body)
    assert b''.join(outputs) == data
    # and each partition is whole records
    offset = 0
    for out in filter(None, outputs):
        assert offset == 0 or data[offset - 1] == ord('\n'), offset
        offset += len(out)
        assert offset == len(data) or data[offset - 1] == ord('\n'), offset
    assert outputs[-1] == b''    # the unterminated last line went before


def test_csv_three_partitions(conn, java_samples, container, placement):
    rows = csv_rows(1024 * 1024, seed=10)
    data = csv_bytes(rows)
    longest = max(len(line) + 1 for line in data.split(b'\n'))
    conn.put_object(container, 'meter.csv', data)
    third = len(data) // 3
    outputs = []
    for start, end, first in partitions([third, 2 * third], len(data)):
        _, body = storlet_get(conn, container, 'meter.csv', CSV, dict(
            placement, **{'X-Storlet-Range': 'bytes=%d-%d' % (
                start, end + longest)},
            **params(where_clause='EqualTo(6,FRA)', selected_columns='4,6',
                     **partition_params(start, end, longest, first))))
        outputs.append(body)
    expected = csv_expected(rows)
    got = b''.join(outputs).splitlines()
    assert len(got) == len(expected)
    assert got == expected
    assert all(out for out in outputs)   # every partition found some


# == a crashing Java storlet ==================================================

CRASH = params(op='crash')


def test_crash_on_get_is_503(conn, account, java_samples, container,
                             placement):
    conn.put_object(container, 'o', b'data')
    with no_leaks(account):
        with pytest.raises(ClientException) as err:
            storlet_get(conn, container, 'o', TEST1, dict(placement, **CRASH))
    assert err.value.http_status == 503
    assert err.value.http_response_content == FAILED
    # the storlet (and its JVM) keeps working
    _, body = storlet_get(conn, container, 'o', TEST1,
                          dict(placement, **params(op='print')))
    assert body.startswith(b'op    print\n')


@pytest.mark.parametrize('how', ['put', 'copy-from', 'copy-verb'])
def test_crash_on_put_or_copy_is_500_and_stores_nothing(
        conn, account, java_samples, container, how):
    conn.put_object(container, 'src', b'data')
    request = dict(CRASH, **{'X-Run-Storlet': TEST1})
    with no_leaks(account):
        with pytest.raises(ClientException) as err:
            if how == 'put':
                conn.put_object(container, 'dst', b'data', headers=request)
            elif how == 'copy-from':
                conn.put_object(container, 'dst', None, headers=dict(
                    request, **{'X-Copy-From': '%s/src' % container}))
            else:
                conn.copy_object(container, 'src', '/%s/dst' % container,
                                 headers=request)
    assert err.value.http_status == 500
    assert err.value.http_response_content == FAILED
    assert object_absent(conn, container, 'dst')


def wait_for_log(conn, name, text, timeout=10):
    """The log object's body once it contains ``text``."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = conn.get_object(LOG_CONTAINER, name)[1]
            if text.encode() in last:
                return last.decode('utf-8', 'replace')
        except ClientException as err:
            if err.http_status != 404:
                raise
        if time.monotonic() > deadline:
            pytest.fail('%s/%s never contained %r; last: %r'
                        % (LOG_CONTAINER, name, text, last))
        time.sleep(0.2)


def test_crash_log_holds_the_null_pointer_exception(conn, java_samples,
                                                    container, placement):
    log_name = TEST1 + '.log'
    try:
        conn.delete_object(LOG_CONTAINER, log_name)
    except ClientException as err:
        if err.http_status != 404:
            raise
    conn.put_object(container, 'o', b'data')
    marker = uuid.uuid4().hex
    with pytest.raises(ClientException) as err:
        storlet_get(conn, container, 'o', TEST1, dict(
            placement, **{'X-Storlet-Generate-Log': 'True'},
            **params(op='crash', marker=marker)))
    assert err.value.http_status == 503
    log = wait_for_log(conn, log_name, 'NullPointerException')
    assert 'marker=%s' % marker in log     # this call's log
    assert 'test1: crashing on purpose' in log
    assert 'test1: op=crash' in log
    conn.delete_object(LOG_CONTAINER, log_name)


# == a hanging Java storlet, and concurrency in one JVM =======================

def test_hang_times_out_and_the_jvm_survives(conn, account, private_test1,
                                             container, placement):
    conn.put_object(container, 'o', b'data', headers=meta_headers(ORIGIN))
    _, body = storlet_get(conn, container, 'o', private_test1,
                          dict(placement, **params(op='print')))
    assert body.startswith(b'op    print\n')
    jvms = jvm_pids(account, private_test1, placement)
    assert len(jvms) == 1, jvms
    with no_leaks(account):
        started = time.monotonic()
        with pytest.raises(ClientException) as err:
            storlet_get(conn, container, 'o', private_test1,
                        dict(placement, **params(op='hold')))   # 100 s
        elapsed = time.monotonic() - started
    assert err.value.http_status == 503
    assert err.value.http_response_content in (TIMED_OUT, FAILED)
    assert STORLET_TIMEOUT - 1 <= elapsed < HANG_LIMIT, elapsed
    # the engine interrupted the hung thread: same JVM, still serving
    _, body = storlet_get(conn, container, 'o', private_test1,
                          dict(placement, **params(op='print')))
    assert body.startswith(b'op    print\n')
    assert jvm_pids(account, private_test1, placement) == jvms


CONCURRENT_CALLS = 10
HOLD_SECONDS = 2


def test_ten_concurrent_calls_share_one_jvm(conn, account, private_test1,
                                            container, placement):
    conn.put_object(container, 'o', b'data', headers=meta_headers(ORIGIN))
    storlet_get(conn, container, 'o', private_test1,
                dict(placement, **params(op='print')))     # warm the JVM
    jvms = jvm_pids(account, private_test1, placement)
    assert len(jvms) == 1, jvms
    barrier = threading.Barrier(CONCURRENT_CALLS)
    results = [None] * CONCURRENT_CALLS

    def call(i):
        c = connection()
        try:
            c.get_auth()
            barrier.wait(30)
            started = time.monotonic()
            headers, body = storlet_get(c, container, 'o', private_test1, dict(
                placement, **params(op='hold', seconds=HOLD_SECONDS)))
            results[i] = (time.monotonic() - started, headers, body)
        except Exception as err:
            results[i] = err
        finally:
            c.close()

    threads = [threading.Thread(target=call, args=(i,))
               for i in range(CONCURRENT_CALLS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    seen = set()
    while any(thread.is_alive() for thread in threads):
        seen |= jvm_pids(account, private_test1, placement)
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    for elapsed, headers, body in results:
        assert elapsed >= HOLD_SECONDS - 0.1
        assert body == b''
        assert_origin_kept(headers)
    # serial calls would take CONCURRENT_CALLS * HOLD_SECONDS = 20 s
    assert wall < CONCURRENT_CALLS * HOLD_SECONDS / 2, wall
    assert seen == jvms


# == a storlet built with javac alone and deployed with `swift upload` ========

@pytest.fixture(scope='module')
def upper_storlet(jbuild, tmp_path_factory):
    """UPPER compiled against the API jar only and uploaded by the plain
    ``swift`` CLI."""
    work = tmp_path_factory.mktemp('upper')
    compile_jar({'org/example/upper/UpperStorlet.java': UPPER_SOURCE},
                str(work / UPPER), classpath=[jbuild.api_jar])
    out = swift_cli('upload', STORLET_CONTAINER, UPPER,
                    '--object-name', UPPER,
                    '-H', 'X-Object-Meta-Storlet-Language: Java',
                    '-H', 'X-Object-Meta-Storlet-Interface-Version: 1.0',
                    '-H', 'X-Object-Meta-Storlet-Object-Metadata: no',
                    '-H', 'X-Object-Meta-Storlet-Main: %s' % UPPER_MAIN,
                    cwd=str(work))
    assert out.returncode == 0
    return UPPER


def test_javac_built_storlet_runs(conn, upper_storlet, container, placement,
                                  how):
    data = b'Hello, Storlets! \x00\xff mixed Case 123\n' * 5000
    headers, body = invoke(conn, container, how, upper_storlet, data,
                           headers=placement)
    assert body == data.upper()
    assert headers['x-object-meta-upper-cased'] == 'yes'
    assert_origin_kept(headers)


def test_javac_built_storlet_with_swift_download(upper_storlet, container,
                                                 tmp_path):
    (tmp_path / 'lower.txt').write_bytes(b'all lower case\n' * 100)
    swift_cli('upload', container, 'lower.txt', cwd=str(tmp_path))
    out = swift_cli('download', container, 'lower.txt', '-o', '-',
                    '-H', 'X-Run-Storlet: %s' % upper_storlet)
    assert out.stdout == b'ALL LOWER CASE\n' * 100
    assert b'md5' not in out.stderr.lower()
