"""Storlet metrics, sent through Swift's logger to StatsD.

Configure StatsD as for any Swift middleware (``log_statsd_host``,
``log_statsd_port``, ``log_statsd_metric_prefix`` in the filter section or
``[DEFAULT]``). Metric names, each also per storlet under
``storlet.<name>.`` (dots and odd characters in the name become ``_``):

=============================  =============================================
``invocations.<where>``        calls started (``where``: proxy or object)
``placement.<reason>``         why each call ran where it did (not per
                               storlet; reasons in ``placement``'s doc)
``errors.<kind>``              ``timeout``, ``failed`` (the storlet),
                               ``sandbox`` (the engine), ``code`` (fetching
                               the storlet), ``aborted`` (after output began)
``cold_starts``                calls that had to start a daemon or sandbox
``ttfb``                       ms from the call to its first output byte
``duration``                   ms from the call to the end of its output
``bytes_in`` / ``bytes_out``   bytes read from the main input / written
=============================  =============================================
"""
import re
import time

_ODD = re.compile(r'[^A-Za-z0-9_-]')


class InvocationMetrics:
    """Metrics of one storlet call."""

    def __init__(self, logger, storlet_name, placement):
        self.logger = logger
        self.prefix = 'storlet.%s.' % _ODD.sub('_', storlet_name)
        self.started = time.time()
        self._count('invocations.%s' % placement.side)
        logger.update_stats('placement.%s' % placement.reason, 1)

    def _count(self, metric, amount=1):
        self.logger.update_stats(metric, amount)
        self.logger.update_stats(self.prefix + metric, amount)

    def _time(self, metric):
        self.logger.timing_since(metric, self.started)
        self.logger.timing_since(self.prefix + metric, self.started)

    def failed(self, err):
        self._count('errors.%s' % err.metric_kind)

    def started_output(self, result, bytes_in=None):
        if result.extra.get('cold_start'):
            self._count('cold_starts')
        self._time('ttfb')
        if bytes_in:
            self._count('bytes_in', bytes_in)
        return MeteredBody(result.body, self)

    def finished(self, bytes_out, error=None):
        if error is not None:
            self._count('errors.aborted')
        self._time('duration')
        if bytes_out:
            self._count('bytes_out', bytes_out)


class MeteredBody:
    """Counts the output and reports when it is closed."""

    def __init__(self, body, metrics):
        self._body = body
        self._iter = iter(body)
        self._metrics = metrics
        self._bytes = 0
        self._error = None
        self._closed = False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            chunk = next(self._iter)
        except StopIteration:
            raise
        except Exception as err:
            self._error = err
            raise
        self._bytes += len(chunk)
        return chunk

    def close(self):
        if self._closed:
            return
        self._closed = True
        close = getattr(self._body, 'close', None)
        if close:
            close()
        self._metrics.finished(self._bytes, self._error)
