"""Every function of the wiring: runtime, handler, layers, environment and least privilege."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from horizon import wiring
from horizon.api.console import CONSOLE_DIR
from horizon.settings import Settings
from infra import names
from tests.infra.lookup import (
    as_list,
    env_ref,
    environment,
    functions,
    get_att_id,
    of_type,
    policy_statements,
    queue_id,
    referenced_ids,
)

SPECS = pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.key)
RESOURCE_ENVS = {spec.key: spec.env for spec in (*wiring.TABLES, *wiring.QUEUES, *wiring.BUCKETS)}
RESOURCE_ENVS[names.WEBSOCKET_RESOURCE] = names.WEBSOCKET_CALLBACK_ENV
RESOURCE_ENVS[wiring.SES_IDENTITY] = "EMAIL_SENDER"


def test_every_function_of_the_wiring_is_deployed(resources):
    assert set(functions(resources)) == {spec.key for spec in wiring.FUNCTIONS}


@SPECS
def test_function_runtime_handler_and_sizing(resources, spec):
    _, props = functions(resources)[spec.key]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    # Inside Lambda the asset root is functions/<name>, so the module is `handler`.
    assert props["Handler"] == f"handler.{spec.attribute}"
    assert spec.module == f"{spec.code_dir.replace('/', '.')}.handler"
    assert props["Timeout"] == spec.timeout_s
    assert props["MemorySize"] == spec.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == 2


@SPECS
def test_function_logs_to_its_own_group_with_retention(resources, spec):
    _, props = functions(resources)[spec.key]
    group = resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] > 0


def test_every_function_has_its_own_role_without_managed_policies(resources):
    roles = [get_att_id(props["Role"]) for _, props in functions(resources).values()]
    assert len(set(roles)) == len(wiring.FUNCTIONS)
    for role_id in roles:
        assert "ManagedPolicyArns" not in resources[role_id]["Properties"]


@SPECS
def test_environment_carries_every_resource_of_the_access_map(resources, spec):
    env = environment(resources, spec.key)
    for key in spec.access:
        if wiring.dead_lettered_queue(key):
            continue  # a DLQ has no variable: its consumer's event source mapping reads it
        assert RESOURCE_ENVS[key] in env, f"{spec.key} lacks {RESOURCE_ENVS[key]} for {key}"
    assert env[names.POWERTOOLS_SERVICE_ENV] == f"{names.SERVICE_NAME}-{spec.key}"
    assert env[names.LOG_LEVEL_ENV] == names.DEFAULT_LOG_LEVEL


def test_environment_values_point_at_the_matching_resources(resources):
    for spec in wiring.TABLES:
        assert resources[env_ref(resources, spec.env)]["Type"] == "AWS::DynamoDB::Table"
    for spec in wiring.QUEUES:
        assert resources[env_ref(resources, spec.env)]["Type"] == "AWS::SQS::Queue"
    for spec in wiring.BUCKETS:
        assert resources[env_ref(resources, spec.env)]["Type"] == "AWS::S3::Bucket"
    # Distinct resources: no two variables name the same table, queue or bucket.
    envs = [spec.env for spec in (*wiring.TABLES, *wiring.QUEUES, *wiring.BUCKETS)]
    assert len({env_ref(resources, env) for env in envs}) == len(envs)


def test_callback_url_is_the_websocket_stage_endpoint(resources):
    [api_id] = of_type(resources, "AWS::ApiGatewayV2::Api")
    for key in functions(resources):
        joined = environment(resources, key)[names.WEBSOCKET_CALLBACK_ENV]["Fn::Join"][1]
        assert joined[0] == "https://"
        assert joined[1] == {"Ref": api_id}
        assert joined[-1] == f"/{wiring.WEBSOCKET_STAGE}"


def test_local_stack_sets_the_same_variables(aws, resources):
    """The local stack (local.provision) and CDK give the handlers the same variable names."""
    for key in functions(resources):
        missing = set(aws.env) - set(environment(resources, key))
        assert not missing, f"{key} lacks {missing}, which the local stack sets"


@SPECS
def test_settings_load_from_the_cloud_environment(resources, spec, monkeypatch):
    """Every required setting is provided by CDK: `get_settings()` will not fail in Lambda."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
    for name, value in environment(resources, spec.key).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "from-cloudformation")
    Settings(_env_file=None)


def test_ingest_gives_up_where_its_queue_does(resources):
    env = environment(resources, wiring.INGEST_FUNCTION.key)
    assert env["INGEST_MAX_RECEIVE_COUNT"] == str(wiring.queue("ingest").max_receive_count)


def test_no_statement_grants_everything(resources):
    for props in of_type(resources, "AWS::IAM::Policy").values():
        for statement in props["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            assert "*" not in actions
            assert not any(action.endswith(":*") for action in actions), actions
            data_actions = [a for a in actions if a.split(":")[0] in {"dynamodb", "s3", "sqs"}]
            if data_actions:
                assert "*" not in as_list(statement["Resource"]), statement


def _resource_ids(resources):
    """Logical id → resource key of every table, queue, DLQ and bucket of the wiring."""
    ids = {}
    for spec in (*wiring.TABLES, *wiring.QUEUES, *wiring.BUCKETS):
        ids[env_ref(resources, spec.env)] = spec.key
    for spec in wiring.QUEUES:
        dead_letter_key = wiring.dead_letter_key(spec.key)
        ids[queue_id(resources, dead_letter_key)] = dead_letter_key
    # The SES identity and the configuration set its sends go through are one grant.
    for ses_type in ("AWS::SES::EmailIdentity", "AWS::SES::ConfigurationSet"):
        for logical_id in of_type(resources, ses_type):
            ids[logical_id] = wiring.SES_IDENTITY
    return ids


@SPECS
def test_roles_reach_exactly_the_resources_of_their_access_map(resources, spec):
    _, props = functions(resources)[spec.key]
    statements = policy_statements(resources, get_att_id(props["Role"]))
    by_id = _resource_ids(resources)
    reached = {
        by_id[ref] for s in statements for ref in referenced_ids(s["Resource"]) if ref in by_id
    }
    triggers = {t.queue for t in wiring.QUEUE_TRIGGERS if t.function == spec.key}
    expected = {key for key in spec.access if key != names.WEBSOCKET_RESOURCE} | triggers
    assert reached == expected


@SPECS
def test_grants_match_the_access_level(resources, spec):
    _, props = functions(resources)[spec.key]
    statements = policy_statements(resources, get_att_id(props["Role"]))
    by_id = _resource_ids(resources)
    actions: dict[str, set[str]] = {}
    for statement in statements:
        for ref in referenced_ids(statement["Resource"]):
            if ref in by_id:
                actions.setdefault(by_id[ref], set()).update(as_list(statement["Action"]))
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "s3:PutObject"}
    reads = {"dynamodb:GetItem", "dynamodb:Query", "s3:GetObject*"}
    for key, access in spec.access.items():
        granted = actions.get(key, set())
        if access == "read":
            assert not granted & writes, (key, granted)
            assert granted & reads, (key, granted)
        elif access == "write":
            assert granted & writes, (key, granted)
            assert not granted & reads, (key, granted)
        elif access == "read_write":
            assert granted & writes and granted & reads, (key, granted)
        elif access == "send":
            assert "sqs:SendMessage" in granted
        elif access == "consume":
            assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= granted
            assert "sqs:SendMessage" not in granted


@SPECS
def test_manage_connections_is_scoped_to_the_stage(resources, spec):
    _, props = functions(resources)[spec.key]
    statements = [
        s
        for s in policy_statements(resources, get_att_id(props["Role"]))
        if "execute-api:ManageConnections" in as_list(s["Action"])
    ]
    if spec.access.get(names.WEBSOCKET_RESOURCE) != "manage_connections":
        assert not statements
        return
    [statement] = statements
    [api_id] = of_type(resources, "AWS::ApiGatewayV2::Api")
    tails = []
    for resource in statement["Resource"]:
        parts = resource["Fn::Join"][1]
        assert {"Ref": api_id} in parts
        tails.append(parts[-1])
    assert sorted(tails) == sorted(
        f"/{wiring.WEBSOCKET_STAGE}/{method}/@connections/*" for method in ("POST", "GET", "DELETE")
    )


def test_core_layer_ships_the_web_console(synthesized):
    """The API function serves /console from the core layer: the staged asset holds every file
    of the console folder (the layer's excludes drop caches and .so files, nothing of it)."""
    stack, _ = synthesized
    code = stack.node.find_child("Functions").node.find_child("CoreLayer").node.find_child("Code")
    staged = Path(stack.node.root.outdir) / code.asset_path / "python/horizon/api/console"
    shipped = {path.relative_to(staged) for path in staged.rglob("*") if path.is_file()}
    expected = {path.relative_to(CONSOLE_DIR) for path in CONSOLE_DIR.rglob("*") if path.is_file()}
    assert "index.html" in {path.as_posix() for path in shipped}
    assert shipped == expected
