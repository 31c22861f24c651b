"""Invocation: one checked ``execute`` request, and how it reaches a worker.

The daemon checks the gateway's message (``Invocation.from_message``) and
then hands the call to a worker (see spares.py) as one frame on the
worker's own socket: ``worker_message`` with the input, output and
metadata descriptors. The log descriptor goes to the supervisor instead,
which copies the worker's log pipe into it; the worker rebuilds the
invocation with ``from_worker_message`` and its log pipe.
"""


def _string_map(value, what):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in value.items()):
        raise ValueError('%s must map strings to strings' % what)
    return value


def _window_bound(value):
    if value is not None and (type(value) is not int or value < 0):
        raise ValueError('input window bounds must be null or integers >= 0')
    return value


class Invocation:
    """One checked ``execute`` request: what a worker needs to run it."""

    def __init__(self, params, inputs, output_fd, metadata_fd, log_fd):
        self.params = params            # {str: str}
        self.inputs = inputs            # [(fd, metadata, start, end)]
        self.output_fd = output_fd
        self.metadata_fd = metadata_fd
        self.log_fd = log_fd

    @property
    def fds(self):
        return ([fd for fd, _, _, _ in self.inputs]
                + [self.output_fd, self.metadata_fd, self.log_fd])

    @classmethod
    def from_message(cls, message, fds):
        """Check an execute message; raise ValueError (one line) if bad."""
        roles = message.get('fds', [])
        if (roles[:4] != ['input', 'output', 'metadata', 'log']
                or any(role != 'input' for role in roles[4:])):
            raise ValueError('execute needs descriptors input, output, '
                             'metadata, log, then extra inputs; got %s'
                             % roles)
        input_fds = fds[:1] + fds[4:]
        described = message.get('inputs', [{}] * len(input_fds))
        if not isinstance(described, list) or len(described) != len(input_fds):
            raise ValueError('"inputs" must describe each of the %d input '
                             'descriptors' % len(input_fds))
        params = _string_map(message.get('params', {}), '"params"')
        inputs = []
        for fd, description in zip(input_fds, described):
            if not isinstance(description, dict):
                raise ValueError('each of "inputs" must be an object')
            metadata = _string_map(description.get('metadata') or {},
                                   'input "metadata"')
            start = _window_bound(description.get('start'))
            end = _window_bound(description.get('end'))
            if start is not None and end is not None and end < start:
                raise ValueError('input window ends (%d) before it starts '
                                 '(%d)' % (end, start))
            inputs.append((fd, metadata, start, end))
        return cls(params, inputs, fds[1], fds[2], fds[3])

    def worker_message(self):
        """``(message, fds)`` for the worker: everything but the log."""
        message = {
            'params': self.params,
            'inputs': [[metadata, start, end]
                       for _, metadata, start, end in self.inputs],
            'fds': ['output', 'metadata'] + ['input'] * len(self.inputs)}
        fds = [self.output_fd, self.metadata_fd] + [
            fd for fd, _, _, _ in self.inputs]
        return message, fds

    @classmethod
    def from_worker_message(cls, message, fds, log_fd):
        """The worker's side of ``worker_message`` (already checked)."""
        inputs = [(fd, metadata, start, end) for fd, (metadata, start, end)
                  in zip(fds[2:], message['inputs'])]
        return cls(message['params'], inputs, fds[0], fds[1], log_fd)
