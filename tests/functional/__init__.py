"""Functional tests: a real Swift all-in-one and a real dockerd.

Run by ``devstack/aio.sh test``, which exports STORLETS_AIO=1 and the
ST_AUTH / ST_USER / ST_KEY of the all-in-one. Without STORLETS_AIO the
whole package is skipped (say so loudly); with it, an unreachable cluster is
a failure, never a skip.
"""
