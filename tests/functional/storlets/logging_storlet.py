"""Copies its input and writes log lines tagged with the ``marker`` parameter.

Logs ``start <marker>`` (INFO) first, ``output closed <marker>`` (INFO) after
closing its output, and fails on purpose before any output when the ``fail``
parameter is set (so its log must then hold the traceback).
"""


class LoggingStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        marker = params.get('marker', 'none')
        self.logger.info('start %s' % marker)
        if params.get('fail'):
            raise RuntimeError('logging storlet fails on purpose %s' % marker)
        out_files[0].set_metadata({})
        out_files[0].write(in_files[0].read())
        out_files[0].close()
        self.logger.info('output closed %s' % marker)
