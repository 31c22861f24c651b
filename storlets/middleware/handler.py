"""What the proxy and object handlers share: the next app and the engine."""


class Handler:
    """Base of ``ProxyHandler`` and ``ObjectHandler``."""

    def __init__(self, app, config, gateway, code_source, logger):
        self.app = app                  # the rest of the Swift pipeline
        self.config = config            # StorletConfig, parsed at load
        self.gateway = gateway          # the execution engine
        self.code_source = code_source  # fetches code, stores logs
        self.logger = logger
