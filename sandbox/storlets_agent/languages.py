"""Storlet languages, agent side: how the factory starts a daemon for each.

A language here knows three things: which interpreter its daemon needs
(``interpreter``: None to run in the forked factory process, else a
``python<version>`` to exec), how the forked child becomes that daemon
(``serve``: returns the daemon's exit code), and how many of its daemons
one sandbox keeps at most (``max_daemons``: 0 for no limit; the factory
stops the least recently used ready ones to make room).

The host side (``storlets.languages``) validates registrations and runs
storlets locally; a new language is one module there, one class here, and
its entry in ``LANGUAGES``.
"""
import os
import re
import sys

from storlets_agent.daemon import run_daemon
from storlets_agent.java_front import run_java_front

_PYTHON_VERSION = re.compile(r'3(\.[0-9]+)?')


class UnsupportedRuntime(ValueError):
    """The request names a runtime this image does not have."""


class PythonDaemons:
    """Python storlets: the warm factory forks the daemon (or execs the
    image's ``python<Language-Version>`` when another is asked for)."""
    name, title = 'python', 'Python'

    @staticmethod
    def interpreter(request, python_dir):
        version = request.get('language_version')
        version = '' if version is None else str(version).strip()
        if version in ('', '3') or \
                version == '%d.%d' % sys.version_info[:2]:
            return None
        if _PYTHON_VERSION.fullmatch(version):
            candidate = os.path.join(python_dir, 'python' + version)
            if os.access(candidate, os.X_OK):
                return candidate
        raise UnsupportedRuntime('Requested runtime is unavailable: python%s'
                                 % ' '.join(version.split()))

    @staticmethod
    def serve(factory, spec, ready_fd):
        return run_daemon(
            factory.runtime_dir, spec.key, spec.name, spec.main, spec.path,
            factory.daemon_idle_timeout, ready_fd, factory.limits,
            factory.spares)

    @staticmethod
    def max_daemons(factory):
        return 0


class JavaDaemons:
    """Java storlets: a Python front in the forked child drives the image's
    JVM (the contract targets Java 11 and later; the front checks it)."""
    name, title = 'java', 'Java'

    @staticmethod
    def interpreter(request, python_dir):
        return None

    @staticmethod
    def serve(factory, spec, ready_fd):
        return run_java_front(
            factory.runtime_dir, spec.key, spec.name, spec.main, spec.path,
            factory.daemon_idle_timeout, ready_fd, factory.limits,
            factory.java, factory.java_dir, factory.java_threads)

    @staticmethod
    def max_daemons(factory):
        # each JVM costs tens of MB and a dozen threads of the sandbox's
        # memory and pids limits
        return factory.max_java_daemons


#: name (lower case, as the gateway sends it) -> language
LANGUAGES = {lang.name: lang for lang in (PythonDaemons, JavaDaemons)}
