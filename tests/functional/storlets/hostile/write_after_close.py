"""Writes, closes its output, then writes again.

With ``catch=yes`` it catches the error of the late write and returns
normally (then the late bytes must simply not appear); otherwise the error
escapes and the call fails.
"""


class WriteAfterCloseStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out = out_files[0]
        out.set_metadata({})
        out.write(b'before close')
        out.close()
        try:
            out.write(b'AFTER CLOSE')
        except (ValueError, OSError) as err:
            self.logger.info('late write refused: %s' % err)
            if params.get('catch') != 'yes':
                raise
