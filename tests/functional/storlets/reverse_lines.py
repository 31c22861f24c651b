"""Writes the input's lines in reverse order of each line's bytes (a visible
transformation for PUT/copy tests); adds metadata ``transformed: yes``."""


class ReverseLinesStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        md = in_files[0].get_metadata()
        md['transformed'] = 'yes'
        out_files[0].set_metadata(md)
        for line in in_files[0].readlines():
            body = line.rstrip(b'\n')
            out_files[0].write(body[::-1] + line[len(body):])
        out_files[0].close()
