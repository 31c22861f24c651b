"""Sets output metadata: input metadata plus ``color: blue`` and a
content type, then copies the input."""


class MetadataSetterStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        md = in_files[0].get_metadata()
        md['color'] = params.get('color', 'blue')
        md['Content-Type'] = 'text/x-storlet'
        out_files[0].set_metadata(md)
        out_files[0].write(in_files[0].read())
        out_files[0].close()
