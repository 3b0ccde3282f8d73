"""The REST API's outer shield, in front of the application's own keys and limits.

- A WAF web ACL on the stage: a rate-based rule per client IP (`names.WAF_RATE_PER_IP` requests
  per 5 minutes), and AWS's managed common and known-bad-inputs rule sets. It stops floods
  before they cost a Lambda invocation; the per-key tiers (`horizon.identity`) stay the
  authority on who may do how much.
- A usage plan on the stage with the stage's throttle: where API Gateway API keys of a
  partner would be attached. Tenants' keys are the application's (`hzn_...`), which API Gateway
  cannot read, so the plan carries no quota of its own: the daily quotas are counted in
  DynamoDB per key.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra import names


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


def _managed_rule(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=name
            )
        ),
        visibility_config=_visibility(name),
    )


class RestApiShield(Construct):
    """The web ACL and usage plan of one REST API stage.

    Attributes:
        web_acl: the WAF web ACL associated with the stage.
        usage_plan: the stage's usage plan.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigateway.RestApi,
        rate_per_ip: int = names.WAF_RATE_PER_IP,
    ) -> None:
        """Create the web ACL and the usage plan, and attach both to `api`'s stage.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            api: the REST API whose deployment stage they guard.
            rate_per_ip: requests a client IP may make in any 5 minutes before it is blocked.
        """
        super().__init__(scope, construct_id)
        rate_rule = wafv2.CfnWebACL.RuleProperty(
            name="RatePerIp",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP", limit=rate_per_ip
                )
            ),
            visibility_config=_visibility("RatePerIp"),
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[
                rate_rule,
                _managed_rule("AWSManagedRulesCommonRuleSet", 1),
                _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 2),
            ],
            visibility_config=_visibility("EventHorizonRestApi"),
        )
        stage = api.deployment_stage
        association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        association.node.add_dependency(stage)
        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            description="The stage's throttle; partners' API Gateway keys would attach here",
            throttle=apigateway.ThrottleSettings(
                rate_limit=names.REST_THROTTLE_RATE, burst_limit=names.REST_THROTTLE_BURST
            ),
            api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=stage)],
        )
