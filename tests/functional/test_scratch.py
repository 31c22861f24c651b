"""Each call's scratch space: private, empty, gone with the call.

A storlet (storlets/scratchy.py; a Java one compiled here) leaves files in
its scratch directory and directly in /tmp: the next call finds none of
them and the whole /tmp free again. A call that writes past the gateway's
``max_scratch_mb`` fails with a clear error, and the next call has the room.
"""
import json
import os
import time

import pytest
from swiftclient import ClientException

from tests.functional.conftest import deploy, storlet_headers
from tests.functional.java_build import compile_jar, java_build
from tests.functional.leaks import gateway_conf

PY = 'functest_scratchy.py'
JAVA = 'functest-scratch-1.0.jar'
JAVA_MAIN = 'org.example.scratch.ScratchStorlet'
MIB = 1024 * 1024
JAVA_SOURCE = r'''
package org.example.scratch;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

import org.openstack.storlet.common.IStorlet;
import org.openstack.storlet.common.StorletException;
import org.openstack.storlet.common.StorletInputStream;
import org.openstack.storlet.common.StorletLogger;
import org.openstack.storlet.common.StorletObjectOutputStream;
import org.openstack.storlet.common.StorletOutputStream;

/** Reports its scratch directory and what it held; writes params["mib"]
 * MiB there and a file directly in /tmp. */
public class ScratchStorlet implements IStorlet {
    @Override
    public void invoke(ArrayList<StorletInputStream> ins,
                       ArrayList<StorletOutputStream> outs,
                       Map<String, String> params, StorletLogger log)
            throws StorletException {
        String dir = params.get("storlet_scratch_dir");
        File here = new File(dir);
        StorletObjectOutputStream out = (StorletObjectOutputStream) outs.get(0);
        String[] tmp = new File("/tmp").list();
        java.util.Arrays.sort(tmp);
        String report = "{\"param\": \"" + dir + "\", \"found_here\": "
            + here.list().length + ", \"tmp\": \"" + String.join(",", tmp)
            + "\"}";
        try {
            byte[] mib = new byte[1024 * 1024];
            int count = Integer.parseInt(params.getOrDefault("mib", "0"));
            for (int i = 0; i < count; i++) {
                try (FileOutputStream f = new FileOutputStream(
                        new File(here, "big" + i))) {
                    f.write(mib);
                }
            }
            try (FileOutputStream f = new FileOutputStream(
                    "/tmp/java-left-" + System.nanoTime())) {
                f.write(mib);
            }
            Thread.sleep((long) (Double.parseDouble(
                params.getOrDefault("linger", "0")) * 1000));
            out.setMetadata(new HashMap<String, String>());
            out.getStream().write(report.getBytes("UTF-8"));
        } catch (IOException | InterruptedException e) {
            throw new StorletException(e.toString());
        }
        out.close();
    }
}
'''


def limit():
    return int(gateway_conf().get('max_scratch_mb', '32')) * MIB


@pytest.fixture(scope='module')
def scratchy(conn):
    deploy(conn, 'scratchy.py', 'functest_scratchy.ScratchyStorlet', name=PY)
    yield PY
    conn.delete_object('storlet', PY)


def call(conn, container, storlet, params=None, headers=None):
    h = {'X-Run-Storlet': storlet}
    for i, (k, v) in enumerate((params or {}).items()):
        h['X-Storlet-Parameter-%d' % i] = '%s:%s' % (k, v)
    h.update(headers or {})
    _, body = conn.get_object(container, 'o', headers=h)
    return json.loads(body)


@pytest.mark.parametrize('where', ['object', 'proxy'])
def test_python_calls_get_a_fresh_scratch_dir_and_leave_nothing(
        conn, container, scratchy, where):
    conn.put_object(container, 'o', b'data')
    headers = {} if where == 'object' else {'X-Storlet-Run-On-Proxy': ''}
    reports = [call(conn, container, PY, headers=headers) for _ in range(3)]
    for report in reports:
        here = report['cwd']
        assert os.path.dirname(here) == '/tmp'
        assert report['tmpdir'] == report['home'] == report['param'] == here
        assert report['found_here'] == []
        # nothing of an earlier call: only scratch dirs (this call's, the
        # spares')
        assert all(n.startswith('storlets-call-') for n in report['tmp']), \
            report['tmp']
    assert len({r['cwd'] for r in reports}) == 3


def test_past_max_scratch_size_fails_clearly_and_the_next_has_room(
        conn, container, scratchy):
    conn.put_object(container, 'o', b'data')
    mib = limit() // MIB + 2
    log_name = PY + '.log'
    with pytest.raises(ClientException) as err:
        call(conn, container, PY, {'mib': str(mib)},
             {'X-Storlet-Generate-Log': 'True'})
    assert err.value.http_status == 503
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _, log = conn.get_object('storletlog', log_name)
                break
            except ClientException as err:
                assert err.http_status == 404
                assert time.monotonic() < deadline, 'no log uploaded'
                time.sleep(0.2)
        assert (b'Storlet scratch directory exceeded %d bytes' % limit()
                in log), log
    finally:
        try:
            conn.delete_object('storletlog', log_name)
        except ClientException:
            pass
    report = call(conn, container, PY)
    assert report['found_here'] == []
    assert report['tmp_free'] > limit()
    assert all(n.startswith('storlets-call-') for n in report['tmp'])


@pytest.fixture(scope='module')
def java_scratch(conn, tmp_path_factory):
    work = tmp_path_factory.mktemp('scratchjava')
    jar = compile_jar({'org/example/scratch/ScratchStorlet.java':
                       JAVA_SOURCE}, str(work / JAVA),
                      classpath=[java_build().api_jar])
    with open(jar, 'rb') as f:
        conn.put_object('storlet', JAVA, f.read(), headers=storlet_headers(
            JAVA_MAIN, language='Java'))
    yield JAVA
    conn.delete_object('storlet', JAVA)


def test_java_calls_get_their_own_scratch_dir(conn, container, java_scratch):
    conn.put_object(container, 'o', b'data')
    dirs = set()
    for _ in range(2):
        report = call(conn, container, JAVA, {'mib': '1'})
        assert os.path.dirname(report['param']) == '/tmp'
        assert report['found_here'] == 0
        assert 'java-left' not in report['tmp'], report['tmp']
        dirs.add(report['param'])
    assert len(dirs) == 2
    mib = limit() // MIB + 2
    with pytest.raises(ClientException) as err:
        call(conn, container, JAVA, {'mib': str(mib), 'linger': '30'})
    assert err.value.http_status == 503
    report = call(conn, container, JAVA, {'mib': '1'})
    assert report['found_here'] == 0
