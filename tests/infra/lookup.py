"""Find resources of the synthesized template by what the wiring says, not by logical ids."""

from __future__ import annotations

from typing import Any

from horizon import wiring
from infra import names

Resources = dict[str, dict[str, Any]]


def of_type(resources: Resources, type_name: str) -> dict[str, dict[str, Any]]:
    """Return logical id → properties of every resource of `type_name`."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource["Type"] == type_name
    }


def functions(resources: Resources) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return function key → (logical id, properties), keyed by POWERTOOLS_SERVICE_NAME."""
    prefix = f"{names.SERVICE_NAME}-"
    found = {}
    for logical_id, props in of_type(resources, "AWS::Lambda::Function").items():
        service = (
            props.get("Environment", {}).get("Variables", {}).get(names.POWERTOOLS_SERVICE_ENV)
        )
        if service and service.startswith(prefix):
            found[service.removeprefix(prefix)] = (logical_id, props)
    return found


def environment(resources: Resources, key: str) -> dict[str, Any]:
    """Return the environment variables of function `key`."""
    return functions(resources)[key][1]["Environment"]["Variables"]


def env_ref(resources: Resources, env_name: str) -> str:
    """Return the logical id the variable `env_name` refers to (its value is a `Ref`)."""
    for _, props in functions(resources).values():
        value = props["Environment"]["Variables"].get(env_name)
        if isinstance(value, dict) and "Ref" in value:
            return value["Ref"]
    raise AssertionError(f"no function carries {env_name} as a Ref")


def get_att_id(value: Any) -> str:
    """Return the logical id of `{"Fn::GetAtt": [id, attr]}`."""
    assert isinstance(value, dict) and "Fn::GetAtt" in value, value
    return value["Fn::GetAtt"][0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(resources: Resources, role_id: str) -> list[dict[str, Any]]:
    """Return every statement of the IAM policies attached to the role `role_id`."""
    statements = []
    for props in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in props.get("Roles", []):
            statements += props["PolicyDocument"]["Statement"]
    return statements


def referenced_ids(value: Any) -> set[str]:
    """Return every logical id a template value refers to (Ref or Fn::GetAtt, nested)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return found


def queue_id(resources: Resources, key: str) -> str:
    """Return the logical id of the wiring's queue `key`: a work queue by its variable, a DLQ
    (`wiring.dead_letter_key`, which has no variable) by its work queue's redrive policy."""
    source = wiring.dead_lettered_queue(key)
    if source is None:
        return env_ref(resources, wiring.queue(key).env)
    redrive = resources[env_ref(resources, source.env)]["Properties"]["RedrivePolicy"]
    return get_att_id(redrive["deadLetterTargetArn"])
