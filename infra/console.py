"""The web console on a CDN: the console's files in a private bucket behind CloudFront.

The same files the API serves at `/console/` (`horizon.api.console`), plus a `config.json`
written at deploy time that names the REST and WebSocket APIs: the page is on CloudFront's
domain, so the API is not its parent URL. The headers are those of the API-served copy
(`horizon.api.console_headers`), with the REST API's origin added to `connect-src`.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from horizon.api import console_headers as headers
from infra import names

CONFIG_FILE = "config.json"
INDEX_FILE = "index.html"
# What a browser remembers that this host is HTTPS only (the API's own answers say the same).
HSTS_MAX_AGE = Duration.days(365)


def rest_api_origin(api: apigateway.IRestApi) -> str:
    """Return the REST API's origin, `https://{id}.execute-api.{region}.{suffix}`.

    Built from the API's id rather than its stage URL: the stage depends on the API function,
    whose CORS origins name this distribution, and the headers policy would close the cycle.
    """
    return f"https://{api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"


def security_headers(api_origin: str) -> cloudfront.ResponseSecurityHeadersBehavior:
    """The console's security headers as CloudFront sets them (overriding S3's answer)."""
    return cloudfront.ResponseSecurityHeadersBehavior(
        content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
            content_security_policy=headers.content_security_policy(api_origin), override=True
        ),
        content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
        frame_options=cloudfront.ResponseHeadersFrameOptions(
            frame_option=cloudfront.HeadersFrameOption[headers.X_FRAME_OPTIONS], override=True
        ),
        referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
            referrer_policy=cloudfront.HeadersReferrerPolicy[
                headers.REFERRER_POLICY.upper().replace("-", "_")
            ],
            override=True,
        ),
        strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
            access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
        ),
    )


class ConsoleSite(Construct):
    """A private bucket holding the console, a CloudFront distribution reading it through an
    Origin Access Control, and the deployment that copies the files and `config.json` there.

    Attributes:
        bucket: the console's files (no public access; only the distribution reads them).
        distribution: the CDN in front of it, HTTPS only.
        origin: `https://<distribution domain>`, the browser origin the REST API must allow.
        url: the console's address (the origin and `/`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        websocket_url: str,
        access_logs: s3.IBucket,
    ) -> None:
        """Create the bucket, the distribution and the deployment.

        Args:
            scope: the parent construct.
            construct_id: this construct's id.
            rest_api: the REST API the console calls (its stage URL goes into config.json).
            websocket_url: the `wss://` URL of the WebSocket API.
            access_logs: the bucket receiving the console bucket's server access logs.
        """
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="console/",
            # Nothing here expires (the files are the console), but like every bucket of the
            # stack it drops the parts of uploads that never completed.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=names.ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
        )
        api_origin = rest_api_origin(rest_api)
        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="Event Horizon console: the headers the API-served console has",
            security_headers_behavior=security_headers(api_origin),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Event Horizon web console",
            default_root_object=INDEX_FILE,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers_policy,
            ),
        )
        self.origin = f"https://{self.distribution.distribution_domain_name}"
        self.url = f"{self.origin}/"
        self.deployment = s3_deployment.BucketDeployment(
            self,
            "Files",
            destination_bucket=self.bucket,
            sources=[
                s3_deployment.Source.asset(str(headers.CONSOLE_DIR)),
                s3_deployment.Source.json_data(
                    CONFIG_FILE,
                    {
                        "api_url": rest_api.url,
                        "ws_url": websocket_url,
                        # A deployed stack always has keys (the admin key at least).
                        "sign_in_required": True,
                    },
                ),
            ],
            # Kept on the objects, CloudFront and browsers revalidate within a second of a
            # deployment instead of serving yesterday's code (no invalidation needed).
            cache_control=[s3_deployment.CacheControl.from_string(headers.CACHE_CONTROL)],
        )
