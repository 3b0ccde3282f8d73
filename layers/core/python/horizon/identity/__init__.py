"""Identity and limits: API keys, the admin key and tokens resolved to a `Caller`, tiers."""

from horizon.identity.models import Caller, Role, Tier
from horizon.identity.service import IdentityService

__all__ = ["Caller", "IdentityService", "Role", "Tier"]
