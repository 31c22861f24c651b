"""Make the sandbox agent importable (it lives outside the storlets
package) and provide the ``make_agent`` / ``agent`` fixtures."""
import os
import sys

import pytest

SANDBOX_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                           '..', '..', '..', 'sandbox'))
if SANDBOX_DIR not in sys.path:
    sys.path.insert(0, SANDBOX_DIR)

from tests.unit.sandbox.agentlib import Agent  # noqa: E402


@pytest.fixture
def make_agent(tmp_path):
    """make_agent(*factory options, max_processes=None) -> Agent.

    Every agent made is stopped, and whatever it left killed, at the end.
    """
    agents = []

    def make(*args, **kwargs):
        agents.append(Agent(str(tmp_path / ('a%d' % len(agents))), *args,
                            **kwargs))
        return agents[-1]

    yield make
    for agent in agents:
        agent.cleanup()


@pytest.fixture
def agent(make_agent):
    return make_agent()
