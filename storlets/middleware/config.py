"""The filter's configuration, parsed once when the pipeline loads.

``StorletConfig.from_conf`` is the only place where option strings become
values; a bad value fails at load time, not on the first request. The
options listed in ``FILTER_OPTIONS`` are exactly those documented in the
``etc/*-server.conf-sample`` files (a unit test compares them).
"""
from dataclasses import dataclass

from swift.common.utils import config_true_value

#: Options of ``[filter:storlet_handler]`` read by this package.
FILTER_OPTIONS = (
    'execution_server', 'storlet_gateway_module', 'storlet_gateway_conf',
    'storlet_container', 'storlet_dependency', 'storlet_logcontainer',
    'storlet_execute_on_proxy_only', 'max_extra_resources',
    'internal_client_conf_path',
)
#: Accepted alias of ``storlet_execute_on_proxy_only`` (upstream's name).
ALIASES = {'storlet_execute_on_proxy': 'storlet_execute_on_proxy_only'}


@dataclass(frozen=True)
class StorletConfig:
    execution_server: str
    storlet_gateway_module: str = 'stub'
    storlet_gateway_conf: str = '/etc/swift/storlet-docker-gateway.conf'
    storlet_container: str = 'storlet'
    storlet_dependency: str = 'dependency'
    storlet_logcontainer: str = 'storletlog'
    storlet_execute_on_proxy_only: bool = False
    max_extra_resources: int = -1
    internal_client_conf_path: str = '/etc/swift/internal-client.conf'

    @classmethod
    def from_conf(cls, conf):
        conf = dict(conf)
        for alias, name in ALIASES.items():
            if alias in conf and name not in conf:
                conf[name] = conf[alias]
        server = conf.get('execution_server')
        if server not in ('proxy', 'object'):
            raise ValueError('execution_server must be "proxy" or "object", '
                             'not %r' % server)
        d = cls(execution_server=server)
        max_extra = int(conf.get('max_extra_resources', d.max_extra_resources))
        if max_extra < -1:
            raise ValueError('max_extra_resources must be -1, 0 or positive')
        return cls(
            execution_server=server,
            storlet_gateway_module=conf.get('storlet_gateway_module',
                                            d.storlet_gateway_module),
            storlet_gateway_conf=conf.get('storlet_gateway_conf',
                                          d.storlet_gateway_conf),
            storlet_container=conf.get('storlet_container',
                                       d.storlet_container),
            storlet_dependency=conf.get('storlet_dependency',
                                        d.storlet_dependency),
            storlet_logcontainer=conf.get('storlet_logcontainer',
                                          d.storlet_logcontainer),
            storlet_execute_on_proxy_only=config_true_value(conf.get(
                'storlet_execute_on_proxy_only', False)),
            max_extra_resources=max_extra,
            internal_client_conf_path=conf.get(
                'internal_client_conf_path', d.internal_client_conf_path))
