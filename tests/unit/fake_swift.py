"""A small FakeSwift: a WSGI app that answers registered (method, path)s.

Records every call with its headers (``calls``) and its ``swift.source``,
and wraps each response body so a test can assert that the middleware closed
every body it was given (``unclosed``).
"""
from swift.common.swob import Request, Response


class TrackedBody:
    def __init__(self, chunks, owner):
        self._it = iter(chunks)
        self.owner = owner
        self.closed = False
        owner.open_bodies.append(self)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        self.closed = True


class FakeSwift:
    def __init__(self):
        self.responses = {}
        self.calls = []
        self.open_bodies = []

    def register(self, method, path, status, headers=None, body=b''):
        self.responses[(method, path)] = (status, dict(headers or {}), body)

    @property
    def unclosed(self):
        return [b for b in self.open_bodies if not b.closed]

    def call_headers(self, method, path):
        return [h for m, p, h, _ in self.calls if (m, p) == (method, path)]

    def __call__(self, env, start_response):
        req = Request(env)
        self.calls.append((req.method, req.path, dict(req.headers),
                           env.get('swift.source')))
        key = (req.method, req.path)
        if key not in self.responses and req.method == 'HEAD':
            key = ('GET', req.path)
        if key not in self.responses:
            resp = Response(status=404, body=b'Not Found')
            return resp(env, start_response)
        status, headers, body = self.responses[key]
        if isinstance(body, bytes):
            headers.setdefault('Content-Length', str(len(body)))
            body = [body]
        if req.method == 'HEAD':
            body = []
        start_response('%d Fake' % status, list(headers.items()))
        return TrackedBody(body, self)


class FakeCodeSource:
    """Records uploaded logs; serves code from a dict {(kind, name): bytes}."""

    def __init__(self, objects=None):
        self.objects = objects or {}
        self.logs = []

    def fetch(self, account, container_kind, name):
        return {}, [self.objects[(container_kind, name)]]

    def upload_log(self, account, container, name, data):
        self.logs.append((account, container, name, data))

    def log_uploader(self, headers, account, container, storlet_name):
        return None
