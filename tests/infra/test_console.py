"""The web console on S3 + CloudFront: a private bucket, an OAC origin, the console's headers,
a config.json naming the APIs, the `ConsoleUrl` output and the REST API's CORS origin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from horizon import wiring
from horizon.api.console_headers import CONSOLE_DIR, X_FRAME_OPTIONS
from infra import names
from infra.console import CONFIG_FILE, INDEX_FILE
from tests.infra.lookup import environment, get_att_id, of_type, referenced_ids

BUCKET_DEPLOYMENT = "Custom::CDKBucketDeployment"


@pytest.fixture(scope="module")
def distribution(resources) -> tuple[str, dict[str, Any]]:
    [(distribution_id, props)] = of_type(resources, "AWS::CloudFront::Distribution").items()
    return distribution_id, props["DistributionConfig"]


@pytest.fixture(scope="module")
def bucket_id(distribution) -> str:
    [origin] = distribution[1]["Origins"]
    return get_att_id(origin["DomainName"])


@pytest.fixture(scope="module")
def deployment(resources) -> dict[str, Any]:
    [props] = of_type(resources, BUCKET_DEPLOYMENT).values()
    return props


def _sources(synthesized, deployment) -> list[tuple[Path, dict[str, Any]]]:
    """Return each source's staged folder with the deploy-time values its markers stand for."""
    stack, _ = synthesized
    outdir = Path(stack.node.root.outdir)
    keys = deployment["SourceObjectKeys"]
    return [
        (outdir / f"asset.{key.removesuffix('.zip')}", markers)
        for key, markers in zip(keys, deployment["SourceMarkers"], strict=True)
    ]


def _config_json(synthesized, deployment) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the staged config.json and the deploy-time values its markers stand for."""
    for folder, markers in _sources(synthesized, deployment):
        staged = folder / CONFIG_FILE
        if staged.is_file():
            # A marker stands for a JSON value (quotes included): quoted, the file parses.
            text = staged.read_text()
            for marker in markers:
                text = text.replace(marker, json.dumps(marker))
            return json.loads(text), markers
    raise AssertionError(f"no source of the deployment holds {CONFIG_FILE}")


def test_the_bucket_is_private_encrypted_and_logged(resources, bucket_id):
    bucket = resources[bucket_id]
    assert bucket["Type"] == "AWS::S3::Bucket"
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "console/"


def test_the_bucket_accepts_tls_only_and_reads_from_the_distribution_only(
    resources, bucket_id, distribution
):
    [policy] = [
        props
        for props in of_type(resources, "AWS::S3::BucketPolicy").values()
        if props["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["PolicyDocument"]["Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert distribution[0] in referenced_ids(allow["Condition"])


def test_the_distribution_reads_through_oac_and_serves_index_over_https(resources, distribution):
    _, config = distribution
    assert config["DefaultRootObject"] == INDEX_FILE == "index.html"
    [origin] = config["Origins"]
    oac_id = get_att_id(origin["OriginAccessControlId"])
    oac = resources[oac_id]["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "s3"
    assert oac["SigningBehavior"] == "always"
    # No legacy origin access identity beside the OAC.
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]


def test_the_headers_are_the_consoles_with_the_rest_api_allowed(resources, distribution):
    policy_id = distribution[1]["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"]
    config = resources[policy_id]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    assert all(header["Override"] for header in security.values())
    assert security["FrameOptions"]["FrameOption"] == X_FRAME_OPTIONS
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert "ContentTypeOptions" in security
    parts = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
    [api_id] = of_type(resources, "AWS::ApiGateway::RestApi")
    assert parts[0].endswith("connect-src 'self' https://")
    assert {"Ref": api_id} in parts
    assert parts[-1].startswith(" wss:;")


def test_the_deployment_copies_the_console_and_a_config_naming_the_apis(
    synthesized, resources, deployment, bucket_id
):
    assert deployment["DestinationBucketName"] == {"Ref": bucket_id}
    assert deployment["SystemMetadata"] == {"cache-control": "no-cache"}
    config, markers = _config_json(synthesized, deployment)
    assert config["sign_in_required"] is True
    [stage_id] = of_type(resources, "AWS::ApiGateway::Stage")
    [api_id] = of_type(resources, "AWS::ApiGateway::RestApi")
    api_url = markers[config["api_url"]]["Fn::Join"][1]
    assert api_url[0] == '"https://'
    assert {"Ref": api_id} in api_url and {"Ref": stage_id} in api_url
    assert api_url[-1] == '/"'  # the base ends with /, as the console resolves paths on it
    [websocket_id] = of_type(resources, "AWS::ApiGatewayV2::Api")
    ws_url = markers[config["ws_url"]]["Fn::Join"][1]
    assert ws_url[0] == '"wss://' and {"Ref": websocket_id} in ws_url


def test_the_deployment_copies_every_console_file(synthesized, deployment):
    def files(folder: Path) -> set[str]:
        return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}

    staged = [files(folder) for folder, _ in _sources(synthesized, deployment)]
    assert files(CONSOLE_DIR) in staged
    assert {CONFIG_FILE} in staged


def test_the_console_url_is_output(template, distribution):
    output = template.to_json()["Outputs"][names.OUTPUT_CONSOLE_URL]
    assert output["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution[0], "DomainName"]}, "/"]]
    }


def test_the_rest_function_allows_the_consoles_origin(resources, distribution):
    origins = environment(resources, wiring.REST_FUNCTION)["CORS_ALLOW_ORIGINS"]
    assert origins == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution[0], "DomainName"]}]]
    }
