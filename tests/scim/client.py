"""Drives the host's SCIM 2.0 service with scim2-client, a SCIM client
library that validates every request and answer against RFC 7643/7644
(status codes, content type, the schemas the server publishes).

Our own tests read our answers with our own reading of the RFCs; a client
written by others, from the same RFCs, catches what that reading misses.
Run by host/tests/web/scim.rs with the tools venv's python
(scripts/setup-python-tools.sh installs the pinned library):

    client.py SCIM_BASE_URL TOKEN

It discovers the service, then creates, reads, lists, patches, replaces
and deletes a user and a group, and prints one JSON object of what it
saw; the Rust test compares it with the host's directory. A client
exception ends the script with a traceback and a non-zero code.
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    PatchOp,
    PatchOperation,
    SCIMException,
    SearchRequest,
)


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def main(base_url, token):
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    scim = SyncSCIMClient(http)
    scim.discover()
    User = scim.get_resource_model("User")
    Group = scim.get_resource_model("Group")
    seen = {"resource_types": sorted(rt.id for rt in scim.provider.resource_types)}

    user = User(
        user_name="grace@corp.example",
        display_name="Grace Hopper",
        emails=[User.Emails(value="grace@corp.example", primary=True, type="work")],
        active=True,
    )
    # The extension's model as the server's Schemas describe it.
    Enterprise = User.get_extension_model(ENTERPRISE)
    user[Enterprise] = Enterprise(department="Navy", employee_number="1906")
    created = scim.create(user)
    seen["created"] = {
        "id": created.id,
        "user_name": created.user_name,
        "version": created.meta.version,
        "department": created[Enterprise].department,
    }

    try:
        scim.create(User(user_name="GRACE@corp.example"))
        seen["duplicate"] = "accepted"
    except SCIMException as exc:
        error = exc.to_error()
        seen["duplicate"] = {"status": error.status, "scim_type": error.scim_type}

    found = scim.query(User, query_parameters=SearchRequest(filter='userName eq "grace@corp.example"'))
    seen["found"] = [r.id for r in found.resources]

    group = scim.create(Group(display_name="Admirals", members=[Group.Members(value=created.id)]))
    seen["group"] = {"id": group.id, "members": [m.value for m in group.members or []]}

    patch = PatchOp[User](
        operations=[PatchOperation[User](op=PatchOperation.Op.replace_, path="active", value=False)]
    )
    patched = scim.modify(User, created.id, patch)
    if patched is None:
        patched = scim.query(User, created.id)
    seen["patched"] = {"active": patched.active, "version": patched.meta.version}

    read = scim.query(User, created.id)
    read.display_name = "Rear Admiral Grace Hopper"
    replaced = scim.replace(read)
    seen["replaced"] = {
        "display_name": replaced.display_name,
        "groups": [g.value for g in replaced.groups or []],
        "version": replaced.meta.version,
    }

    scim.delete(Group, group.id)
    scim.delete(User, created.id)
    try:
        scim.query(User, created.id)
        seen["after_delete"] = "found"
    except SCIMException as exc:
        seen["after_delete"] = exc.to_error().status
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:])
