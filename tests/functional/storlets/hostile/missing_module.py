"""Imports a module that does not exist in the sandbox."""
import storlets_hostile_no_such_module  # noqa: F401


class MissingModuleStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({})
        out_files[0].close()
