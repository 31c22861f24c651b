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
from swift.common.middleware.acl import clean_acl

ENTRY_PREFIX = '.r:storlets.'


def acl_entry(user, storlet):
    return '%s%s_%s' % (ENTRY_PREFIX, user, storlet)


def validate_acl_request(user, storlet):
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


def add_entry(read_acl, user, storlet):
    """The container read ACL with the storlet entry present exactly once."""
    entry = acl_entry(user, storlet)
    entries = [e.strip() for e in (read_acl or '').split(',') if e.strip()]
    if entry not in entries:
        entries.append(entry)
    return ','.join(entries)


def user_names(environ):
    """Names the authenticated user is known by, for ACL matching.

    Keystone: ``X-User-Name``. Tempauth: ``REMOTE_USER`` holds the user's
    groups, the first being ``account:user``; both that and ``user`` match.
    """
    names = []
    keystone = environ.get('HTTP_X_USER_NAME')
    if keystone:
        names.append(keystone)
    remote = environ.get('REMOTE_USER') or ''
    for group in remote.split(','):
        if ':' in group and group != '.wsgi.pre_authed':
            names.extend([group, group.split(':', 1)[1]])
            break
    return names


def grants(read_acl, names, storlet):
    """True when the read ACL holds an entry for one of ``names``+storlet."""
    entries = {e.strip() for e in (read_acl or '').split(',')}
    return any(acl_entry(name, storlet) in entries for name in names)
