"""The web console's files and the headers every copy of them is served with.

Two hosts serve the same files: the API at `/console/` (`horizon.api.console`) and CloudFront
in front of an S3 bucket (`infra.console`, which turns these values into a response headers
policy). Both read them from here, with no FastAPI import, so that the CDK app can too.
"""

from __future__ import annotations

from pathlib import Path

CONSOLE_DIR = Path(__file__).with_name("console")

X_CONTENT_TYPE_OPTIONS = "nosniff"
X_FRAME_OPTIONS = "DENY"
REFERRER_POLICY = "no-referrer"
# The files change with each deploy and are small: revalidate rather than serve stale code.
CACHE_CONTROL = "no-cache"


def content_security_policy(*api_origins: str) -> str:
    """Return the console's Content-Security-Policy.

    No inline script or style and nothing from another origin except the APIs: a deployed
    stack's WebSocket API is on its own domain, hence `wss:`; `data:` only for the empty favicon.

    Args:
        api_origins: REST API origins besides the page's own, e.g.
            `https://abc.execute-api.eu-west-1.amazonaws.com` for the copy on CloudFront.

    Returns:
        The policy.
    """
    connect = " ".join(("'self'", *api_origins, "wss:"))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


# The API serves the console from its own origin: 'self' covers the REST calls.
CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": X_CONTENT_TYPE_OPTIONS,
    "Referrer-Policy": REFERRER_POLICY,
    "X-Frame-Options": X_FRAME_OPTIONS,
    "Cache-Control": CACHE_CONTROL,
}
