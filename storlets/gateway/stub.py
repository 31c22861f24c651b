"""Identity gateway for unit tests: returns its main input unchanged.

It validates no registration and starts no sandbox, like upstream's stub.
"""
import os

from storlets.gateway.base import Gateway
from storlets.gateway.invocation import StorletResult


def _read_fd(fd, start, end, chunk=65536):
    pos = start or 0
    try:
        while end is None or pos < end:
            size = chunk if end is None else min(chunk, end - pos)
            data = os.pread(fd, size, pos)
            if not data:
                break
            pos += len(data)
            yield data
    finally:
        os.close(fd)


class StubStorletGateway(Gateway):

    def validate_storlet_registration(self, name, params):
        pass

    def validate_dependency_registration(self, name, params):
        pass

    def invoke(self, invocation, code_source):
        main = invocation.inputs[0]
        for extra in invocation.inputs[1:]:
            if extra.fd is not None:
                os.close(extra.fd)
                extra.fd = None
        if main.fd is not None:
            # ours now (the caller closes only descriptors left in inputs)
            fd, main.fd = main.fd, None
            body = _read_fd(fd, main.start, main.end)
        else:
            body = iter(main.body)
        return StorletResult(dict(main.metadata), body)
