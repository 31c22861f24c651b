"""Make the sandbox agent importable: it lives outside the storlets package."""
import os
import sys

SANDBOX_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                           '..', '..', '..', 'sandbox'))
if SANDBOX_DIR not in sys.path:
    sys.path.insert(0, SANDBOX_DIR)
