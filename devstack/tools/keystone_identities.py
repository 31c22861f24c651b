"""Create the all-in-one's Keystone projects, users, roles and the
object-store service through Keystone's API, when missing (run by
devstack/lib/keystone.sh, keystone_identities; standard library only).

Usage: keystone_identities.py AUTH_URL ADMIN_PASSWORD TEST_PASSWORD
    SWIFT_PASSWORD REGION ENDPOINT_TEMPLATE MAIN_PROJECT

Prints what it created, then ``PROJECT_ID <id of MAIN_PROJECT>``.
"""
import json
import sys
import urllib.error
import urllib.request

url, admin_pw, test_pw, swift_pw, region, endpoint, main_project = sys.argv[1:]


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    data = json.dumps(body).encode() if body else None
    req = urllib.request.Request(url + path, method=method, data=data)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
            return resp.headers, (json.loads(data) if data else None)
    except urllib.error.HTTPError as err:
        if err.code in ok:
            return err.headers, None
        sys.exit("%s %s: %s %s" % (method, path, err.code, err.read()[:300]))


headers, _ = call("POST", "/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": admin_pw}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
token = headers["X-Subject-Token"]


def find(kind, plural, **filters):
    query = "&".join("%s=%s" % kv for kv in filters.items())
    return call("GET", "/%s?%s" % (plural, query), token=token)[1][plural]


def ensure(kind, plural, body, **filters):
    found = find(kind, plural, **filters)
    if found:
        return found[0]["id"]
    print("created %s %s" % (kind, body.get("name", body)))
    return call("POST", "/" + plural, {kind: body}, token=token)[1][kind]["id"]


roles = {name: ensure("role", "roles", {"name": name}, name=name)
         for name in ("admin", "member", "service")}
projects = {name: ensure("project", "projects",
                         {"name": name, "domain_id": "default"},
                         name=name, domain_id="default")
            for name in ("test", "test2", "service")}
for user, project, role, pw in [("tester", "test", "admin", test_pw),
                                ("tester_member", "test", "member", test_pw),
                                ("tester2", "test2", "member", test_pw),
                                ("swift", "service", "service", swift_pw)]:
    uid = ensure("user", "users",
                 {"name": user, "domain_id": "default", "password": pw,
                  "default_project_id": projects[project]},
                 name=user, domain_id="default")
    call("PUT", "/projects/%s/users/%s/roles/%s"
         % (projects[project], uid, roles[role]), token=token)
service = ensure("service", "services",
                 {"name": "swift", "type": "object-store"},
                 type="object-store")
for interface in ("public", "internal", "admin"):
    ensure("endpoint", "endpoints",
           {"service_id": service, "interface": interface,
            "region_id": region, "url": endpoint},
           service_id=service, interface=interface)
print("PROJECT_ID " + projects[main_project])
