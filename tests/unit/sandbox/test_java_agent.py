"""The Java daemon: a real factory, its Python front and a real JVM.

The Java engine is built from source with java/build.sh (API jar, daemon
jar, JNI shim) and the test storlets of tests/unit/sandbox/java are
compiled against it; the factory runs on this host with ``--java`` and
``--java-dir`` pointing there, and the tests talk to it as the gateway
does.
"""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from storlets.sbus import channel
from tests.unit.sandbox.agentlib import REPO, is_alive, wait_for, wait_gone

JAVA = shutil.which('java')
JAVAC = shutil.which('javac')
JAR = 'agenttest-1.0.jar'

pytestmark = pytest.mark.skipif(
    not (JAVA and JAVAC and shutil.which('gcc')),
    reason='requires a JDK (javac, java) and gcc: apt-get install '
           'default-jdk-headless gcc')


@pytest.fixture(scope='module')
def java_build(tmp_path_factory):
    """{'engine': dir of the runtime jars and shim, 'lib': storlet dir}."""
    base = tmp_path_factory.mktemp('java')
    engine = base / 'engine'
    subprocess.run([os.path.join(REPO, 'java', 'build.sh'), str(engine),
                    '--runtime'], check=True)
    classes = base / 'classes'
    sources = os.path.join(os.path.dirname(__file__), 'java', 'agenttest',
                           'Storlets.java')
    subprocess.run([JAVAC, '--release', '11', '-cp',
                    str(engine / 'storlets-api.jar'), '-d', str(classes),
                    sources], check=True)
    lib = base / 'lib'
    lib.mkdir()
    subprocess.run(['jar', '--create', '--file', str(lib / JAR), '-C',
                    str(classes), '.'], check=True)
    return {'engine': str(engine), 'lib': str(lib)}


@pytest.fixture
def java_agent(make_agent, java_build):
    def make(*args):
        return make_agent('--java', JAVA, '--java-dir', java_build['engine'],
                          *args)
    return make


def start(agent, java_build, cls, name=JAR):
    """start_daemon of agenttest.Storlets$<cls>; returns (reply, key)."""
    return agent.start('agenttest.Storlets$' + cls, name=name,
                       language='java', language_version='',
                       path=java_build['lib'])


def started(agent, java_build, cls):
    reply, _ = start(agent, java_build, cls)
    assert reply['ok'], (reply, agent.agent_output())
    return os.path.join(agent.run_dir, reply['socket'])


def jvms(java_build):
    """Pids of JVMs running the test jar."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(java_build['lib'].encode() in arg for arg in argv) \
                and b'org.openstack.storlet.daemon.JavaDaemon' in argv \
                and is_alive(int(entry)):
            found.append(int(entry))
    return found


def test_a_call_sees_metadata_params_and_every_input(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Echo')
    result = agent.execute(
        sock, params={'color': 'blue', 'storlet_execution_path': '/x'},
        inputs=(b'first input;', b'second'),
        descriptions=[{'metadata': {'Size': 'big'}, 'start': None,
                       'end': None}] * 2)
    assert result.reply == {'ok': True}
    assert result.output == b'first input;second'
    import json
    assert json.loads(result.metadata) == {
        'Size': 'big', 'inputs': '2', 'param-color': 'blue',
        'param-storlet_execution_path': '/x'}
    assert result.log.splitlines() == [
        'About to invoke storlet', 'echo 2 inputs',
        'Storlet invocation done']


def test_one_jvm_serves_many_calls(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Echo')
    for i in range(20):
        data = ('call %d' % i).encode()
        assert agent.execute(sock, inputs=(data,)).output == data
    assert len(jvms(java_build)) == 1


def test_a_window_of_a_file_is_read_in_place(java_agent, java_build,
                                             tmp_path):
    agent = java_agent()
    sock = started(agent, java_build, 'Echo')
    path = tmp_path / 'object'
    path.write_bytes(b'abcdefghijklmonp')
    for start_, end, expected in ((5, 11, b'fghijk'), (10, None, b'klmonp'),
                                  (0, 0, b''), (3, 4, b'd')):
        result = agent.execute(sock, inputs=(str(path),), descriptions=[
            {'metadata': {}, 'start': start_, 'end': end}])
        assert result.reply == {'ok': True}
        assert result.output == expected


def test_an_unchecked_exception_fails_the_call_and_is_logged(
        java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Crash')
    result = agent.execute(sock)
    assert result.reply['ok'] is False
    assert result.reply['error'].startswith('java.lang.NullPointerException')
    assert result.metadata == b''
    assert 'about to crash' in result.log
    assert 'Storlet failed: java.lang.NullPointerException' in result.log
    assert 'at agenttest.Storlets$Crash.invoke' in result.log
    # the JVM is still there for the next call
    assert agent.execute(sock).reply['ok'] is False
    assert len(jvms(java_build)) == 1


def test_returning_without_metadata_is_an_error(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Silent')
    result = agent.execute(sock)
    assert result.reply == {'ok': False, 'error': 'Storlet returned without '
                            'setting the output metadata'}


def test_calls_run_concurrently_in_one_jvm(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Rendezvous')
    meeting = uuid.uuid4().hex
    results = [None] * 10

    def run(i):
        results[i] = agent.execute(sock, timeout=20, params={
            'meeting': meeting, 'count': '10'})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.reply == {'ok': True} for r in results), \
        [r.reply for r in results]
    import json
    names = {json.loads(r.metadata)['thread'] for r in results}
    assert len(names) == 10
    assert len(jvms(java_build)) == 1


def test_a_gateway_hang_up_interrupts_the_call(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Hold')
    conn, meta_r, out_r = agent.send_execute(sock)
    assert os.read(out_r, 100) == b'started\n'
    conn.close()
    os.close(meta_r)
    os.close(out_r)
    wait_for(lambda: 'interrupted' in open(agent.log_path).read())
    # the same JVM serves the next call
    sock = started(agent, java_build, 'Hold')
    conn, meta_r, out_r = agent.send_execute(sock)
    assert os.read(out_r, 100) == b'started\n'
    conn.close()
    assert len(jvms(java_build)) == 1
    assert 'cancelling it' in agent.agent_output()


def test_a_call_deaf_to_cancel_takes_the_jvm_down(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Busy')
    [jvm] = jvms(java_build)
    conn, meta_r, out_r = agent.send_execute(sock, params={'seconds': '30'})
    assert os.read(meta_r, 100) == b'{}'
    conn.close()
    # killed CANCEL_GRACE (2 s) after the hang-up, and its front exits
    wait_gone(jvm, timeout=10)
    wait_for(lambda: agent.status() == {}, timeout=10)
    assert 'did not end within' in agent.agent_output()
    # a new daemon comes up for the next call
    sock = started(agent, java_build, 'Busy')
    assert agent.execute(sock, params={'seconds': '0'}).reply == {'ok': True}


def test_processes_a_storlet_leaves_die_with_its_daemon(java_agent,
                                                        java_build):
    agent = java_agent('--daemon-idle-timeout', '1')
    sock = started(agent, java_build, 'Orphan')
    result = agent.execute(sock)
    assert result.reply == {'ok': True}
    sleeper = int(result.output)
    [jvm] = jvms(java_build)
    assert is_alive(sleeper)
    wait_gone(jvm, timeout=10)
    wait_gone(sleeper, timeout=5)
    wait_for(lambda: agent.status() == {})


@pytest.mark.parametrize('cls, error', [
    ('Missing', 'Failed to load storlet agenttest.Storlets$Missing: '
                'java.lang.ClassNotFoundException: '
                'agenttest.Storlets$Missing'),
    ('NotAStorlet', 'Failed to load storlet agenttest.Storlets$NotAStorlet: '
                    'java.lang.ClassCastException: '
                    'agenttest.Storlets$NotAStorlet does not implement '
                    'org.openstack.storlet.common.IStorlet'),
])
def test_a_storlet_that_cannot_load(java_agent, java_build, cls, error):
    agent = java_agent()
    reply, _ = start(agent, java_build, cls)
    assert reply == {'ok': False, 'error': error}
    assert agent.status() == {}
    wait_for(lambda: not jvms(java_build))


def test_java_refused_without_a_jre(make_agent, java_build):
    agent = make_agent('--java', '/nonexistent/java')
    reply, _ = start(agent, java_build, 'Echo')
    assert reply == {'ok': False, 'error': 'Java storlets are not enabled '
                     'in this sandbox image (no /nonexistent/java)'}


def test_the_log_is_capped(java_agent, java_build):
    agent = java_agent('--max-log-size', '1000')
    sock = started(agent, java_build, 'LogFlood')
    result = agent.execute(sock, params={'lines': '1000'})
    assert result.reply == {'ok': True}
    assert len(result.log) < 1100
    assert result.log.endswith('[storlets: log truncated]\n')


def test_sigterm_ends_front_and_jvm(java_agent, java_build):
    agent = java_agent()
    started(agent, java_build, 'Echo')
    [jvm] = jvms(java_build)
    assert agent.terminate() == 0
    wait_gone(jvm, timeout=5)


def test_a_killed_jvm_fails_its_calls_and_is_replaced(java_agent,
                                                      java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Hold')
    [jvm] = jvms(java_build)
    conn, meta_r, out_r = agent.send_execute(sock)
    assert os.read(out_r, 100) == b'started\n'
    os.kill(jvm, signal.SIGKILL)
    deadline = time.monotonic() + 10
    reply, _ = channel.recv_message(conn, deadline)
    assert reply['ok'] is False
    assert reply['error'].startswith('Java daemon ended')
    conn.close()
    wait_for(lambda: agent.status() == {}, timeout=10)
    sock = started(agent, java_build, 'Echo')
    assert agent.execute(sock, inputs=(b'again',)).output == b'again'


def test_bad_requests_get_an_error_reply(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Echo')
    assert channel.call(sock, {'cmd': 'ping'}) == {'ok': True}
    assert channel.call(sock, {'cmd': 'dance'}) == {
        'ok': False, 'error': "Unknown command: 'dance'"}
    reply = channel.call(sock, {'cmd': 'execute', 'fds': []})
    assert reply['ok'] is False and 'descriptors' in reply['error']
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(sock)
        raw.sendall(b'\xff\xff\xff\xff')
    assert agent.execute(sock, inputs=(b'fine',)).output == b'fine'


def test_at_most_n_jvms_the_least_recently_used_goes(java_agent, java_build,
                                                      tmp_path):
    """--max-java-daemons 2: a third storlet version stops the JVM whose
    last call is the oldest; the stopped one comes back on its next call."""
    agent = java_agent('--max-java-daemons', '2')
    lib = tmp_path / 'lib'
    lib.mkdir()
    for version in 'abc':   # three versions: three daemons
        shutil.copy(os.path.join(java_build['lib'], JAR),
                    str(lib / ('v%s-1.0.jar' % version)))
    socks = {}

    def call(version):
        reply, _ = agent.start('agenttest.Storlets$Echo', key='k' + version,
                               name='v%s-1.0.jar' % version, language='java',
                               path=str(lib))
        assert reply['ok'], reply
        socks[version] = os.path.join(agent.run_dir, reply['socket'])
        assert agent.execute(socks[version], inputs=(b'x',)).output == b'x'

    call('a')
    call('b')
    time.sleep(1.1)     # the fronts note a use at most once a second
    call('a')           # b is now the least recently used
    call('c')
    wait_for(lambda: set(agent.status()) == {'ka', 'kc'}, timeout=10)
    assert 'at most 2 Java daemons per sandbox' in agent.agent_output()
    call('b')           # back, and another one goes
    wait_for(lambda: len(agent.status()) == 2, timeout=10)
    assert 'kb' in agent.status()


def test_a_heap_exhausting_call_fails_alone(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'MemoryBomb')
    [jvm] = jvms(java_build)
    result = agent.execute(sock, timeout=60)
    assert result.reply['ok'] is False
    assert 'java.lang.OutOfMemoryError' in result.reply['error']
    # the heap is freed with the call: the JVM stays, and serves
    assert jvms(java_build) == [jvm]
    assert channel.call(sock, {'cmd': 'ping'}) == {'ok': True}


def test_system_exit_ends_the_jvm_and_the_next_call_starts_one(
        java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Exit')
    result = agent.execute(sock)
    assert result.reply == {'ok': False, 'error': 'Java daemon ended '
                            '(exited with code 3)'}
    wait_for(lambda: agent.status() == {}, timeout=10)
    sock = started(agent, java_build, 'Echo')
    assert agent.execute(sock, inputs=(b'after',)).output == b'after'


def test_what_a_call_prints_goes_to_its_own_log(java_agent, java_build):
    agent = java_agent()
    sock = started(agent, java_build, 'Printer')
    for tag in ('first', 'second'):
        agent.truncate_log()
        result = agent.execute(sock, params={'tag': tag})
        assert result.reply == {'ok': True}
        lines = result.log.splitlines()
        assert {'out ' + tag, 'err ' + tag, 'thread ' + tag} <= set(lines)
        assert not any(line.endswith('first') for line in lines) \
            or tag == 'first'


def test_each_call_gets_its_own_scratch_dir_removed_after_it(java_agent,
                                                             java_build):
    import json
    import tempfile
    root = tempfile.mkdtemp(prefix='scratch-java-')
    os.chmod(root, 0o1777)
    try:
        agent = java_agent('--scratch-root', root,
                           '--max-scratch-size', str(4 * 1024 * 1024))
        sock = started(agent, java_build, 'Scratch')
        dirs = set()
        for _ in range(2):
            result = agent.execute(sock, params={'mib': '2'})
            assert result.reply == {'ok': True}, result.log
            meta = json.loads(result.metadata)
            assert os.path.dirname(meta['dir']) == root
            assert meta['found'] == '0'
            dirs.add(meta['dir'])
        assert len(dirs) == 2
        assert os.listdir(root) == []
        # past the limit: the call fails at once, its directory goes
        began = time.monotonic()
        result = agent.execute(sock, params={'mib': '8', 'linger': '20'},
                               timeout=30)
        assert time.monotonic() - began < 5
        assert result.reply == {'ok': False, 'error': (
            'Storlet scratch directory exceeded %d bytes '
            '(--max-scratch-size): call cancelled' % (4 * 1024 * 1024))}
        assert wait_for(lambda: os.listdir(root) == [])
        assert agent.execute(sock, params={'mib': '1'}).reply == {'ok': True}
    finally:
        shutil.rmtree(root, ignore_errors=True)
