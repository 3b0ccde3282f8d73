"""The REST and WebSocket APIs and the stack's outputs."""

from __future__ import annotations

import json

from horizon import wiring
from infra import names
from infra.rest_api import BINARY_MEDIA_TYPES
from tests.infra.lookup import functions, get_att_id, of_type


def _function_id(resources, key):
    return functions(resources)[key][0]


def _integration_target(uri):
    """Return the logical id of the function an integration URI invokes."""
    parts = uri["Fn::Join"][1]
    [target] = [
        get_att_id(part) for part in parts if isinstance(part, dict) and "Fn::GetAtt" in part
    ]
    return target


def test_rest_api_proxies_everything_to_the_rest_function(resources):
    [api] = of_type(resources, "AWS::ApiGateway::RestApi").values()
    assert sorted(api["BinaryMediaTypes"]) == sorted(BINARY_MEDIA_TYPES)
    paths = {
        props["PathPart"] for props in of_type(resources, "AWS::ApiGateway::Resource").values()
    }
    assert paths == {"{proxy+}"}
    methods = of_type(resources, "AWS::ApiGateway::Method").values()
    assert len(methods) == 2  # the root and {proxy+}
    for method in methods:
        assert method["HttpMethod"] == "ANY"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        target = _integration_target(method["Integration"]["Uri"])
        assert target == _function_id(resources, wiring.REST_FUNCTION)


def test_rest_stage_logs_traces_and_throttles(resources):
    [stage] = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["StageName"] == names.REST_STAGE
    assert stage["TracingEnabled"] is True
    access = stage["AccessLogSetting"]
    fields = json.loads(access["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"
    destination = [p for p in access["DestinationArn"]["Fn::Join"][1] if isinstance(p, dict)]
    group_ids = [p["Ref"] for p in destination if p.get("Ref", "").startswith("Rest")]
    [group_id] = group_ids
    assert resources[group_id]["Type"] == "AWS::Logs::LogGroup"
    assert resources[group_id]["Properties"]["RetentionInDays"] > 0
    [settings] = stage["MethodSettings"]
    assert settings["LoggingLevel"] == "INFO"
    assert settings["MetricsEnabled"] is True
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] == names.REST_THROTTLE_RATE
    assert settings["ThrottlingBurstLimit"] == names.REST_THROTTLE_BURST


def test_rest_execution_logs_have_a_retention(resources):
    [api_id] = of_type(resources, "AWS::ApiGateway::RestApi")
    groups = [
        props
        for props in of_type(resources, "AWS::Logs::LogGroup").values()
        if isinstance(props.get("LogGroupName"), dict)
        and {"Ref": api_id} in props["LogGroupName"]["Fn::Join"][1]
    ]
    [group] = groups
    assert group["LogGroupName"]["Fn::Join"][1][0] == "API-Gateway-Execution-Logs_"
    assert group["RetentionInDays"] > 0


def test_websocket_routes_equal_the_wiring(resources):
    [(api_id, api)] = of_type(resources, "AWS::ApiGatewayV2::Api").items()
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == wiring.WEBSOCKET_ROUTE_SELECTION
    routes = of_type(resources, "AWS::ApiGatewayV2::Route").values()
    assert sorted(route["RouteKey"] for route in routes) == sorted(wiring.WEBSOCKET_ROUTES)
    integrations = of_type(resources, "AWS::ApiGatewayV2::Integration")
    for route in routes:
        assert route["ApiId"] == {"Ref": api_id}
        integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
        integration = integrations[integration_id]
        assert integration["IntegrationType"] == "AWS_PROXY"
        target = _integration_target(integration["IntegrationUri"])
        assert target == _function_id(resources, wiring.WEBSOCKET_ROUTES[route["RouteKey"]])


def test_websocket_stage_deploys_logs_and_throttles(resources):
    [stage] = of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    assert stage["StageName"] == wiring.WEBSOCKET_STAGE
    assert stage["AutoDeploy"] is True
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert fields["connectionId"] == "$context.connectionId"
    assert fields["routeKey"] == "$context.routeKey"
    group_id = get_att_id(stage["AccessLogSettings"]["DestinationArn"])
    assert resources[group_id]["Properties"]["RetentionInDays"] > 0
    throttling = stage["DefaultRouteSettings"]
    assert throttling["ThrottlingRateLimit"] == names.WEBSOCKET_THROTTLE_RATE
    assert throttling["ThrottlingBurstLimit"] == names.WEBSOCKET_THROTTLE_BURST


def test_api_gateway_may_invoke_each_integrated_function(resources):
    permitted = {
        props["FunctionName"]["Fn::GetAtt"][0]
        for props in of_type(resources, "AWS::Lambda::Permission").values()
        if props["Principal"] == "apigateway.amazonaws.com"
    }
    expected = {_function_id(resources, key) for key in set(wiring.WEBSOCKET_ROUTES.values())}
    expected.add(_function_id(resources, wiring.REST_FUNCTION))
    assert permitted == expected


def test_outputs_have_stable_ids(template):
    outputs = template.to_json()["Outputs"]
    expected = {
        names.OUTPUT_REST_API_URL,
        names.OUTPUT_WEBSOCKET_URL,
        names.OUTPUT_WEBSOCKET_CALLBACK_URL,
        names.OUTPUT_ALARM_TOPIC_ARN,
        names.OUTPUT_UPLOADS_BUCKET,
        names.OUTPUT_API_TOKENS_SECRET_ARN,
        names.OUTPUT_ADMIN_KEY_SECRET_ARN,
        names.OUTPUT_USER_POOL_ID,
        names.OUTPUT_USER_POOL_CLIENT_ID,
        names.OUTPUT_CONSOLE_URL,
    }
    assert set(outputs) == expected
    assert outputs[names.OUTPUT_WEBSOCKET_URL]["Value"]["Fn::Join"][1][0] == "wss://"
    [topic_id] = of_type(template.to_json()["Resources"], "AWS::SNS::Topic")
    assert outputs[names.OUTPUT_ALARM_TOPIC_ARN]["Value"] == {"Ref": topic_id}


def test_the_rest_stage_sits_behind_a_waf_rate_rule_and_managed_rules(resources):
    [acl_id] = of_type(resources, "AWS::WAFv2::WebACL")
    acl = of_type(resources, "AWS::WAFv2::WebACL")[acl_id]
    assert acl["Scope"] == "REGIONAL" and "Allow" in acl["DefaultAction"]
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate = rules["RatePerIp"]["Statement"]["RateBasedStatement"]
    assert rate == {"AggregateKeyType": "IP", "Limit": names.WAF_RATE_PER_IP}
    assert "Block" in rules["RatePerIp"]["Action"]
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    [association] = of_type(resources, "AWS::WAFv2::WebACLAssociation").values()
    assert get_att_id(association["WebACLArn"]) == acl_id
    [stage_id] = of_type(resources, "AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["ResourceArn"])


def test_the_rest_stage_has_a_usage_plan_with_its_throttle(resources):
    [plan] = of_type(resources, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Throttle"] == {
        "RateLimit": names.REST_THROTTLE_RATE,
        "BurstLimit": names.REST_THROTTLE_BURST,
    }
    [api_stage] = plan["ApiStages"]
    [stage_id] = of_type(resources, "AWS::ApiGateway::Stage")
    assert api_stage["Stage"] == {"Ref": stage_id}


def test_cors_origins_come_from_the_cdk_context():
    import aws_cdk as cdk

    from infra.stack import cors_environment

    origins = "https://app.example.org,https://admin.example.org"
    configured = cdk.Stack(cdk.App(context={"corsAllowOrigins": origins}), "Configured")
    assert cors_environment(configured) == {"CORS_ALLOW_ORIGINS": origins}
    assert cors_environment(cdk.Stack(cdk.App(), "Default")) == {}


def test_cors_origins_add_to_the_configured_ones():
    import aws_cdk as cdk

    from infra.stack import cors_environment

    configured = cdk.Stack(cdk.App(context={"corsAllowOrigins": "https://a.example"}), "C")
    assert cors_environment(configured, "https://b.example") == {
        "CORS_ALLOW_ORIGINS": "https://a.example,https://b.example"
    }


def test_only_the_rest_function_has_cors_origins(resources):
    """By default its only origin is the console's on CloudFront (tests/infra/test_console.py)."""
    for key, (_, props) in functions(resources).items():
        if key != wiring.REST_FUNCTION:
            assert "CORS_ALLOW_ORIGINS" not in props["Environment"]["Variables"]


def test_api_gateways_own_refusals_answer_in_the_error_shape(resources):
    from horizon.api.errors import ErrorCode
    from infra.rest_api import GATEWAY_ERRORS

    responses = {
        props["ResponseType"]: props
        for props in of_type(resources, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == set(GATEWAY_ERRORS)
    for response_type, (status, code) in GATEWAY_ERRORS.items():
        props = responses[response_type]
        assert ErrorCode(code)  # one of the API's own codes
        body = props["ResponseTemplates"]["application/json"]
        assert f'"code": "{code}"' in body and "$context.requestId" in body
        assert props.get("StatusCode") == (status or None)
    assert responses["THROTTLED"]["ResponseParameters"] == {
        "gatewayresponse.header.Retry-After": "'1'"
    }
