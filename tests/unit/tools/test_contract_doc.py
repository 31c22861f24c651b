"""The user docs stand alone, and docs/storlet-contract.md names only what
the code has: its headers, options, defaults and API members."""
import ast
import glob
import inspect
import os
import re
import sys

import pytest

from storlets import layout
from storlets.gateway import execution, registration
from storlets.gateway.docker import ACCOUNT_OPTIONS, DockerGatewayConfig
from storlets.middleware import request
from storlets.middleware.config import FILTER_OPTIONS
from storlets.middleware.framing import FRAMED_HEADER

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
SANDBOX_DIR = os.path.join(REPO, 'sandbox')
if SANDBOX_DIR not in sys.path:
    sys.path.insert(0, SANDBOX_DIR)

from storlets_agent import files, process  # noqa: E402

CONTRACT = os.path.join(REPO, 'docs', 'storlet-contract.md')
USER_DOCS = [os.path.join(REPO, 'README.md')] + sorted(
    glob.glob(os.path.join(REPO, 'docs', '*.md')))
JAVA_API = os.path.join(REPO, 'java', 'api', 'src', 'org', 'openstack',
                        'storlet', 'common')


def read(path):
    with open(path) as f:
        return f.read()


def inline_code(text):
    """The inline code spans of a markdown text (fenced blocks left out)."""
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    return re.findall(r'``(.+?)``|`([^`\n]+)`', text)


def spans(text):
    return [a or b for a, b in inline_code(text)]


def section(text, number):
    """The text of ``## <number>.`` or ``### <number>`` up to the next one."""
    match = re.search(r'^#+ %s[. ].*?(?=^#+ \d)' % re.escape(number),
                      text + '\n## 99.', re.S | re.M)
    assert match, 'no section %s' % number
    return match.group(0)


def string_constants(*modules):
    """Every string literal of these modules' code (docstrings left out)."""
    found = set()
    for module in modules:
        tree = ast.parse(inspect.getsource(module))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef,
                                           ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found |= {node.value for node in ast.walk(tree)
                  if isinstance(node, ast.Constant)
                  and isinstance(node.value, str)
                  and id(node) not in docstrings}
    return found


def public_members(cls):
    return {name for name in dir(cls) if not name.startswith('_')}


# -- the user docs stand alone ----------------------------------------------

@pytest.mark.parametrize('path', USER_DOCS, ids=os.path.basename)
def test_user_docs_never_point_at_internal_files(path):
    text = read(path)
    for internal in ('shared/', 'spec/'):
        assert internal not in text, '%s mentions %s' % (path, internal)


@pytest.mark.parametrize('path', USER_DOCS, ids=os.path.basename)
def test_relative_links_of_user_docs_resolve(path):
    for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', read(path)):
        if '://' in target:
            continue
        resolved = os.path.join(os.path.dirname(path), target)
        assert os.path.exists(resolved), '%s links to %s' % (path, target)


def test_the_readme_and_guides_link_the_contract():
    for name in ('README.md', 'docs/writing-python-storlets.md',
                 'docs/writing-java-storlets.md'):
        assert 'storlet-contract.md)' in read(os.path.join(REPO, name)), name


# -- headers -----------------------------------------------------------------

def documented_headers():
    names = set()
    for span in spans(read(CONTRACT)):
        match = re.match(r'(X-[A-Za-z0-9-]+)', span)
        if match:
            names.add(match.group(1))
    return sorted(names)


def test_the_contract_names_headers():
    assert len(documented_headers()) > 10   # the parser finds them


@pytest.mark.parametrize('name', documented_headers())
def test_every_documented_header_exists(name):
    lower = name.lower()
    if lower.startswith('x-object-meta-storlet-'):
        # a registration key the registration code reads
        from storlets.languages import java, python
        key = name[len('x-object-meta-storlet-'):].title()
        assert key in string_constants(registration, java, python), name
    elif lower.startswith('x-storlet-'):
        # a client header, or the marker a storlet response carries
        assert (request.is_client_header(name)
                or lower == request.EXECUTED_HEADER.lower()), name
    elif lower.startswith(request.USER_META_PREFIX):
        pass    # user metadata: any key
    else:
        # a Swift header the middleware reads (X-Account-Meta-<k>: as <k>)
        from storlets.middleware import (
            invocation_request, object as obj, placement, proxy)
        key = re.sub(r'^x-account-meta-', '', lower)
        constants = {c.lower() for c in string_constants(
            request, proxy, obj, invocation_request, placement)}
        assert key in constants, name


def test_internal_headers_are_not_documented():
    text = read(CONTRACT).lower()
    for internal in (request.FAILURE_HEADER, FRAMED_HEADER,
                     'X-Storlet-Main', 'X-Storlet-Language'):
        assert internal.lower() + '`' not in text
        assert internal.lower() + ':' not in text


# -- options, parameters and API names ---------------------------------------

def call_parameters():
    """The parameter names of the doc's own Python class."""
    block = re.search(r'```python\n(.*?)```', read(CONTRACT), re.S).group(1)
    names = set()
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.FunctionDef):
            names |= {a.arg for a in node.args.args}
    return names


def snake_names():
    return sorted({span for span in spans(read(CONTRACT))
                   if re.fullmatch(r'[a-z][a-z0-9]*(?:_[a-z0-9]+)+', span)})


@pytest.mark.parametrize('name', snake_names())
def test_every_documented_option_or_name_exists(name):
    known = (set(DockerGatewayConfig.OPTIONS) | set(FILTER_OPTIONS)
             | string_constants(execution) | call_parameters())
    for cls in (files.StorletInputFile, files.StorletOutputFile,
                files.StorletLogger):
        known |= public_members(cls)
    assert name in known


def test_account_options_named_as_shared_limits_are_per_account():
    # The limits table names options; those an account may override must
    # be real account options.
    table = section(read(CONTRACT), '9.3')
    for option in re.findall(r'\(`([a-z_]+)`\)', table):
        assert option in DockerGatewayConfig.OPTIONS
        if option.startswith('container_'):
            assert option in ACCOUNT_OPTIONS


def test_documented_defaults_are_the_code_defaults():
    text = read(CONTRACT)
    defaults = DockerGatewayConfig()
    table = section(text, '9.3')
    rows = re.findall(r'\(`([a-z_]+)`\) \| `([^`]+)`', table)
    assert len(rows) >= 5
    for option, value in rows:
        assert str(getattr(defaults, option)) == value, option
    tmpfs = re.search(r'`container_tmpfs_size`, default `([^`]+)`', text)
    assert tmpfs.group(1) == defaults.container_tmpfs_size
    timeout = re.search(r'`storlet_timeout` \(default (\d+) seconds\)', text)
    assert float(timeout.group(1)) == defaults.storlet_timeout
    assert '| Size of one file a Python call writes | %d MiB |' % (
        process.DEFAULT_MAX_FILE_SIZE // 2 ** 20) in table
    assert '| Log kept per call | %d MiB |' % (
        process.DEFAULT_MAX_LOG_SIZE // 2 ** 20) in table
    assert 'At most %d MiB per call' % (
        layout.MAX_LOG_SIZE // 2 ** 20) in section(text, '7.')
    assert 'Chunks of at most %d KiB' % (files.CHUNK_SIZE // 1024) in \
        section(text, '3.2')


# -- the Python API tables, both ways ----------------------------------------

def member_cells(number):
    """Names in the first column of a section's member table."""
    text = section(read(CONTRACT), number)
    names = set()
    for cell in re.findall(r'^\| (.*?) \|', text, re.M):
        names |= set(re.findall(r'`([a-z_]+)', cell))
    return names - {'with', 'member'}


@pytest.mark.parametrize('number, cls', [
    ('3.2', files.StorletInputFile), ('3.3', files.StorletOutputFile)])
def test_python_file_tables_list_exactly_the_members(number, cls):
    named = member_cells(number)
    assert named - public_members(cls) == set()
    # every member a storlet may use is documented
    assert public_members(cls) - {'metadata_sent'} - named == set()


def test_python_logger_methods_documented():
    named = {span for span in spans(section(read(CONTRACT), '3.4'))
             if re.fullmatch(r'[a-z]+', span)} - {'logging'}
    logging_methods = public_members(files.StorletLogger) - {'close',
                                                             'closed'}
    assert named == logging_methods


# -- the Java API -------------------------------------------------------------

def java_methods(class_name):
    """Method names declared by a Java API class and its superclasses."""
    source = read(os.path.join(JAVA_API, class_name + '.java'))
    names = set(re.findall(r'public\s+(?:static\s+|synchronized\s+)*'
                           r'[\w<>, ]+\s+(\w+)\s*\(', source))
    parent = re.search(r'class \w+ extends (\w+)', source)
    if parent and os.path.exists(os.path.join(JAVA_API,
                                              parent.group(1) + '.java')):
        names |= java_methods(parent.group(1))
    return names


def test_java_classes_and_methods_exist():
    table = section(read(CONTRACT), '4.2')
    rows = re.findall(r'^\| `(\w+)` \| (.*)$', table, re.M)
    assert len(rows) == 5
    for class_name, text in rows:
        methods = java_methods(class_name)
        for span in spans(text):
            for name in re.findall(r'(?<![\w.])([a-z]\w*)\(', span):
                assert name in methods, '%s.%s' % (class_name, name)
    interface = read(os.path.join(JAVA_API, 'IStorlet.java'))
    block = re.search(r'```java\n(.*?)```', read(CONTRACT), re.S).group(1)
    assert ' '.join(block.split()) in ' '.join(interface.split())
