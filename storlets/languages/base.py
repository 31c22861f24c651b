"""What every storlet language provides (see ``storlets.languages``)."""


class LanguageError(ValueError):
    """A storlet that breaks its language's rules; str() says which.

    ``usage`` is True when the caller asked for something impossible (a
    missing file or tool) rather than the storlet failing."""

    def __init__(self, message, usage=True):
        super().__init__(message)
        self.usage = usage


class Language:
    name = ''       # lower case, as registrations and the agent name it
    title = ''      # as the CLI uploads it in X-Object-Meta-Storlet-Language
    suffix = ''     # file name suffix of its storlets

    def validate(self, name, params):
        """Refuse a registration of storlet ``name`` with metadata
        ``params`` (title-cased keys) that this language cannot run."""
        raise NotImplementedError

    def find_main(self, path, main=None):
        """The ``Main`` of the storlet in local file ``path``."""
        raise NotImplementedError

    def run_locally(self, path, main, inputs, params, output, api_jar=None):
        """Run the storlet once: ``inputs`` are file paths (empty: stdin),
        ``params`` a {key: value} map, ``output`` a path or None/'-' for
        stdout. Log lines and output metadata go to stderr."""
        raise NotImplementedError
