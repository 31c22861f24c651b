"""The package declares exactly the third-party packages its code imports.

``install_requires`` in setup.cfg is compared with the top-level modules
that ``storlets/`` imports (read with ``ast``, so nothing is executed); the
standard library and the package itself are not dependencies. The sandbox
agent (``sandbox/``) is not part of the installed package: it runs in the
image with the standard library only (checked by its own tests).
"""
import ast
import configparser
import os
import sys

REPO = os.path.join(os.path.dirname(__file__), '..', '..')
#: distribution name -> the module it provides, where they differ
MODULE_OF = {'python-swiftclient': 'swiftclient'}


def declared():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, 'setup.cfg'))
    lines = parser.get('options', 'install_requires').split()
    names = set()
    for line in lines:
        name = line.split(';')[0]
        for sep in '<>=!~[':
            name = name.split(sep)[0]
        if name:
            names.add(MODULE_OF.get(name, name).lower())
    return names


def imported():
    modules = set()
    for root, _dirs, files in os.walk(os.path.join(REPO, 'storlets')):
        for filename in files:
            if not filename.endswith('.py'):
                continue
            with open(os.path.join(root, filename)) as f:
                tree = ast.parse(f.read(), filename)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules.update(a.name.split('.')[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module.split('.')[0])
    return {m.lower() for m in modules
            if m not in sys.stdlib_module_names and m != 'storlets'}


def test_every_declared_dependency_is_imported():
    assert declared() - imported() == set()


def test_every_imported_package_is_declared():
    assert imported() - declared() == set()


def test_the_gateway_never_imports_swift():
    """Gateways get Swift through the middleware's CodeSource only
    (storlets/gateway/base.py), so an engine can run without it."""
    for root, _dirs, files in os.walk(os.path.join(REPO, 'storlets',
                                                   'gateway')):
        for filename in files:
            if filename.endswith('.py'):
                with open(os.path.join(root, filename)) as f:
                    tree = ast.parse(f.read(), filename)
                for node in ast.walk(tree):
                    names = ([a.name for a in node.names]
                             if isinstance(node, ast.Import) else
                             [node.module or ''] if isinstance(
                                 node, ast.ImportFrom) else [])
                    assert not [n for n in names
                                if n.split('.')[0] == 'swift'], filename
