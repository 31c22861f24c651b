"""Sets metadata, writes ``data`` (default nothing), closes its output and
returns normally without reading its input."""


class CloseEarlyStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out_files[0].set_metadata({'Closed-Early': 'yes'})
        data = params.get('data', '')
        if data:
            out_files[0].write(data.encode('utf-8'))
        out_files[0].close()
