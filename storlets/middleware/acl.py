"""Storlet ACLs: let a user read a container only through a named storlet.

Setting (client API kept from OpenStack Storlets)::

    POST /v1/<acct>/<container>
    X-Storlet-Container-Read: <user>
    X-Storlet-Name: <storlet object name>

appends ``.r:storlets.<user>_<storlet>`` to the container's
``X-Container-Read`` (once). Enforcement is done here, not by Swift's
referrer matching: when a storlet GET is refused with 403, the proxy looks
for an entry that names the authenticated user and the invoked storlet
exactly (case preserved) and, only then, re-issues the GET pre-authorised,
still carrying ``X-Run-Storlet``. A client ``Referer`` whose host starts with
``storlets.`` is refused by the filter, so the entry never grants raw reads.
"""
from typing import Any, Dict, Iterable, List, Optional

from swift.common.middleware.acl import clean_acl

ENTRY_PREFIX = '.r:storlets.'


def acl_entry(user: str, storlet: str) -> str:
    return '%s%s_%s' % (ENTRY_PREFIX, user, storlet)


def validate_acl_request(user: str, storlet: str) -> Optional[str]:
    """Return None if the ACL POST values are fine, else the 400 body."""
    if not user or not storlet:
        return 'storlet ACL update request is missing a mandatory header'
    if ',' in user or ',' in storlet:
        return ('storlet ACL update request has mulformed storlet or user '
                'name')
    try:
        clean_acl('X-Container-Read', acl_entry(user, storlet))
    except ValueError as err:
        return 'storlet ACL update request has invalid values %s' % err
    return None


def add_entry(read_acl: Optional[str], user: str, storlet: str) -> str:
    """The container read ACL with the storlet entry present exactly once."""
    entry = acl_entry(user, storlet)
    entries = [e.strip() for e in (read_acl or '').split(',') if e.strip()]
    if entry not in entries:
        entries.append(entry)
    return ','.join(entries)


def user_names(environ: Dict[str, Any], account: str) -> List[str]:
    """Names the authenticated user is known by, for matching the storlet
    ACL entries of ``account``'s containers.

    A qualified name (``<account or project>:<user>``) matches from any
    account; a bare user name only for a user of ``account`` itself, so a
    namesake in another account never matches.

    * Tempauth: ``REMOTE_USER`` holds the user's groups, ``account:user``
      first, then the account and its storage account (``AUTH_...``).
    * Keystone (``keystone.identity``, set by Swift's keystoneauth, whose
      ``REMOTE_USER`` is a (project id, project name) tuple): ``<project
      id>:<user id>`` and the bare user id; names (``<project name>:<user
      name>``, the bare user name) too when the user and the project are in
      the default domain, as Swift's own ACLs allow names only there.
    """
    identity = environ.get('keystone.identity')
    if identity:
        return _keystone_names(identity, account)
    remote = environ.get('REMOTE_USER')
    if not isinstance(remote, str):
        return []
    for group in remote.split(','):
        if ':' in group and group != '.wsgi.pre_authed':
            user_account, _, user = group.partition(':')
            names = [group]
            if _is_account_of(account, user_account):
                names.append(user)
            return names
    return []


def _is_account_of(account, name):
    """True when ``account`` is the storage account of the tempauth
    account or Keystone project ``name`` (``<reseller prefix>_<name>``)."""
    return account == name or (account.endswith('_' + name) and
                               '_' not in account[:-len(name) - 1])


def _keystone_names(identity, account):
    user_id, user_name = identity.get('user') or (None, None)
    project_id, project_name = identity.get('tenant') or (None, None)
    if not user_id or not project_id:
        return []
    own = _is_account_of(account, project_id)
    names = ['%s:%s' % (project_id, user_id)] + ([user_id] if own else [])
    default = (None, 'default')
    if user_name and project_name and \
            (identity.get('user_domain') or (None,))[0] in default and \
            (identity.get('project_domain') or (None,))[0] in default:
        names.append('%s:%s' % (project_name, user_name))
        if own:
            names.append(user_name)
    return names


def grants(read_acl: Optional[str], names: Iterable[str],
           storlet: str) -> bool:
    """True when the read ACL holds an entry for one of ``names``+storlet."""
    entries = {e.strip() for e in (read_acl or '').split(',')}
    return any(acl_entry(name, storlet) in entries for name in names)
