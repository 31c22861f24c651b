"""Execution engines ("gateways") behind the storlet middleware.

``load_gateway(name)`` resolves a gateway class from the
``storlets.gateways`` entry point group (``docker``, ``stub``) or from a
dotted ``package.module:Class`` / ``package.module.Class`` path.
"""
import importlib
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = 'storlets.gateways'


def load_gateway(name: str) -> type:
    """Return the gateway class named ``name``; ValueError if unknown."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    module, sep, attr = name.replace(':', '.').rpartition('.')
    if sep:
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            pass
    raise ValueError('Unknown storlet gateway %r' % name)
