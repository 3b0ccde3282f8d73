"""The DynamoDB tables of `wiring.TABLES`."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from horizon import wiring

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class DataTables(Construct):
    """One table per spec: on demand, point-in-time recovery, TTL where the spec names one.

    Tables hold users' data, so they are retained when the stack is deleted.

    Attributes:
        tables: resource key → table.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, specs: Iterable[wiring.TableSpec]
    ) -> None:
        """Create the tables.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            specs: the tables to create (normally `wiring.TABLES`).
        """
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {spec.key: self._table(spec) for spec in specs}

    def _table(self, spec: wiring.TableSpec) -> dynamodb.Table:
        sort_key = (
            dynamodb.Attribute(name=spec.sort_key, type=_ATTRIBUTE_TYPES[spec.sort_key_type])
            if spec.sort_key
            else None
        )
        return dynamodb.Table(
            self,
            _construct_id(spec.key),
            partition_key=dynamodb.Attribute(
                name=spec.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )


def _construct_id(key: str) -> str:
    """Return a construct id such as `JobsTable` for the key `jobs`."""
    return "".join(part.capitalize() for part in key.split("_")) + "Table"
