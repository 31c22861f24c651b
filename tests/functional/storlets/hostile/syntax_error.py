"""Does not even compile (deliberately)."""


class SyntaxErrorStorlet(object):
    def __init__(self, logger)
        self.logger = logger
