"""Sending email with SES: the sender identity, a configuration set, and the grant to send.

The identity comes from the `email_sender` context (an address, or a domain whose DKIM
records the deployer publishes); every send names the configuration set, so bounces and
complaints can be published and reputation tracked. A new account's SES is in the sandbox:
it sends only to verified addresses until AWS grants production access (README).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ses as ses
from constructs import Construct

from horizon.email_jobs.settings import DEFAULT_SENDER

SENDER_CONTEXT = "email_sender"
SENDER_ENV = "EMAIL_SENDER"
CONFIGURATION_SET_ENV = "EMAIL_CONFIGURATION_SET"


class EmailSending(Construct):
    """The SES identity and configuration set the email worker sends with.

    Attributes:
        sender: the identity (an address or a domain).
        environment: EMAIL_SENDER and EMAIL_CONFIGURATION_SET for the functions.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.sender = str(self.node.try_get_context(SENDER_CONTEXT) or DEFAULT_SENDER)
        identity = (
            ses.Identity.email(self.sender)
            if "@" in self.sender
            else ses.Identity.domain(self.sender)
        )
        self.configuration_set = ses.ConfigurationSet(
            self, "ConfigurationSet", reputation_metrics=True, sending_enabled=True
        )
        self.identity = ses.EmailIdentity(
            self, "Identity", identity=identity, configuration_set=self.configuration_set
        )
        self.environment = {
            SENDER_ENV: self.sender,
            CONFIGURATION_SET_ENV: self.configuration_set.configuration_set_name,
        }

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """Allow `grantee` to send as the identity, through the configuration set only."""
        configuration_set_arn = Stack.of(self).format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[self.identity.email_identity_arn, configuration_set_arn],
            )
        )
