"""docs/api.md is the whole HTTP API: every client header the middleware
reads and every error body it can answer are in it (read from the code, so
a new header or error without its documentation fails here)."""
import ast
import os

import pytest

from storlets.middleware import request
from storlets.middleware.invocation_request import UNSUPPORTED_COPY_HEADERS

REPO = os.path.join(os.path.dirname(__file__), '..', '..', '..')
API_DOC = os.path.join(REPO, 'docs', 'api.md')
#: modules whose refusals are API answers, and the calls that make them
MODULES = ['storlets/middleware/request.py',
           'storlets/middleware/invocation_request.py',
           'storlets/middleware/proxy.py', 'storlets/middleware/__init__.py',
           'storlets/middleware/acl.py', 'storlets/gateway/registration.py',
           'storlets/languages/python.py', 'storlets/languages/java.py',
           'storlets/errors.py']
REFUSALS = {'bad_request', 'RegistrationError', 'LanguageError', 'text',
            'HTTPForbidden', 'HTTPPreconditionFailed', 'HTTPException',
            'HTTPRequestedRangeNotSatisfiable', 'Failure'}
#: functions whose messages are for the CLI, not HTTP clients
CLI_ONLY = {'find_main', 'run_locally'}


def doc():
    with open(API_DOC) as f:
        return f.read()


def literal(node):
    """The text of a string expression, with ``%s`` for what is filled in
    (None when it is not built from literals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return literal(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left), literal(node.right)
        return None if left is None or right is None else left + right
    return None


def refusal_messages():
    found = set()
    for path in MODULES:
        with open(os.path.join(REPO, path)) as f:
            tree = ast.parse(f.read(), path)
        skip = set()
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef) and func.name in CLI_ONLY:
                skip.update(id(n) for n in ast.walk(func))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in skip:
                continue
            name = getattr(node.func, 'id', getattr(node.func, 'attr', ''))
            if name not in REFUSALS:
                continue
            args = list(node.args) + [k.value for k in node.keywords
                                      if k.arg == 'body']
            for arg in args:
                text = literal(arg)
                if text and ' ' in text:
                    found.add(text)
    return sorted(found)


def test_the_code_has_refusals():
    assert len(refusal_messages()) > 30     # the reader finds them


@pytest.mark.parametrize('message', refusal_messages())
def test_every_error_body_is_documented(message):
    # each fixed stretch between the filled-in values appears as written
    for part in message.split('%s'):
        for piece in part.split('%d'):
            assert piece.strip() in doc(), message


@pytest.mark.parametrize('header', sorted(
    set(request.CLIENT_HEADERS) | {'x-run-storlet', 'x-storlet-parameter-',
                                   'x-copy-from', 'destination'}
    | {h.lower() for h in UNSUPPORTED_COPY_HEADERS}))
def test_every_client_header_is_documented(header):
    assert header in doc().lower()
