"""storlets: server-side compute for OpenStack Swift.

This module imports nothing on purpose: the sandbox image installs the
``storlets.sbus`` sub-package, and Swift loads the middleware through its
entry point.
"""
__version__ = '0.1.0'
