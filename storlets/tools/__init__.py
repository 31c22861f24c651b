"""Tools for storlet writers and operators: the ``storlets`` command and
in-memory test doubles."""
