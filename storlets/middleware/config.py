"""The filter's configuration, parsed once when the pipeline loads.

``StorletConfig.from_conf`` is the only place where option strings become
values; a bad value fails at load time, not on the first request. The
options listed in ``FILTER_OPTIONS`` are exactly those documented in the
``etc/*-server.conf-sample`` files (a unit test compares them).
``max_extra_resources`` is stored as the effective limit: ``-1`` becomes
``MAX_EXTRA_RESOURCES`` (what the engine can carry), more fails at load.
"""
from dataclasses import dataclass

from swift.common.utils import config_true_value

from storlets.sbus.protocol import MAX_FDS

#: Descriptors an invocation sends besides its extra resources: the main
#: input, output, metadata and log (``gateway.execution.execute``).
FIXED_INVOCATION_FDS = 4
#: Most extra resources the engine can carry: one invocation's descriptors
#: travel in one SBus message, of at most ``MAX_FDS`` descriptors.
#: ``max_extra_resources = -1`` means this; more is refused at load.
MAX_EXTRA_RESOURCES = MAX_FDS - FIXED_INVOCATION_FDS
#: Default ``max_extra_resources``: well below the cap, since each extra
#: resource is one more backend GET per request.
DEFAULT_MAX_EXTRA_RESOURCES = 16

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
    max_extra_resources: int = DEFAULT_MAX_EXTRA_RESOURCES
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
        if max_extra == -1:
            max_extra = MAX_EXTRA_RESOURCES
        if not 0 <= max_extra <= MAX_EXTRA_RESOURCES:
            raise ValueError(
                'max_extra_resources must be -1 (the engine\'s limit, %d), '
                '0 (none) or at most %d, not %d'
                % (MAX_EXTRA_RESOURCES, MAX_EXTRA_RESOURCES, max_extra))
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
