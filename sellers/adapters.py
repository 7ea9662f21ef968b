from __future__ import annotations

from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url: str | None) -> bool:
        # After logging in on the main domain, a seller goes back to its store's dashboard
        # on a subdomain: trust the platform's own hosts (not arbitrary ones).
        if url:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            platform = settings.PLATFORM_DOMAIN
            if parts.scheme in ("http", "https") and (
                host == platform or host.endswith(f".{platform}")
            ):
                return True
        return super().is_safe_url(url)
