"""Concatenates all inputs in order; metadata = union of the inputs'
metadata (later inputs win)."""


class MultiInputStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        md = {}
        for f in in_files:
            md.update(f.get_metadata())
        md['inputs'] = str(len(in_files))
        out_files[0].set_metadata(md)
        for f in in_files:
            while True:
                block = f.read(65536)
                if not block:
                    break
                out_files[0].write(block)
        out_files[0].close()
