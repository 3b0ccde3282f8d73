"""Access of the wiring (`FunctionSpec.access`, `TaskContainerSpec.access`) turned into IAM grants.

One mapping for every principal, function or task role, so that "read_write" on a table or
"consume" on a queue means the same policy wherever it is granted. The grants are the L2
constructs' own (`grant_read_write_data`, `grant_consume_messages`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_cdk import aws_iam as iam

from horizon import wiring
from infra import names

if TYPE_CHECKING:
    from infra.functions import Resources


def grant_access(
    grantee: iam.IGrantable,
    resources: Resources,
    key: str,
    access: wiring.Access,
    *,
    owner: str,
) -> None:
    """Grant `grantee` the `access` to the resource `key` of the wiring.

    Args:
        grantee: the function or role.
        resources: the resources the keys refer to.
        key: a table, bucket or queue key, `names.WEBSOCKET_RESOURCE` or `wiring.SES_IDENTITY`.
        access: what the wiring says it may do.
        owner: who asks, for error messages ("function api", "task sandbox").

    Raises:
        ValueError: `key` names no resource, or `access` does not apply to it.
    """
    grants = _grants(resources, key)
    if grants is None:
        raise ValueError(f"{owner}: unknown resource {key!r}")
    if access not in grants:
        raise ValueError(f"{owner}: {key!r} cannot be granted {access!r}")
    grants[access](grantee)


def _grants(resources: Resources, key: str) -> Mapping[str, Callable[[iam.IGrantable], Any]] | None:
    if key in resources.tables:
        table = resources.tables[key]
        return {
            "read": table.grant_read_data,
            "write": table.grant_write_data,
            "read_write": table.grant_read_write_data,
        }
    if key in resources.buckets:
        bucket = resources.buckets[key]
        return {
            "read": bucket.grant_read,
            "write": bucket.grant_put,
            "read_write": bucket.grant_read_write,
        }
    if key in resources.queues:
        queue = resources.queues[key]
        return {"send": queue.grant_send_messages, "consume": queue.grant_consume_messages}
    if key == names.WEBSOCKET_RESOURCE:
        return {"manage_connections": resources.websocket.grant_manage_connections}
    if key == wiring.SES_IDENTITY and resources.email is not None:
        return {"send_email": resources.email.grant_send}
    return None
