from __future__ import annotations

from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpRequest
from django.urls import reverse

from .services import account_email_queue


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url: str | None) -> bool:
        # After logging in on the main domain, a seller goes back to its store's dashboard
        # on a subdomain: trust the platform's own hosts (not arbitrary ones).
        if url:
            try:
                parts = urlsplit(url)
            except ValueError:  # a host with U+FF0F, which NFKC turns into "/"
                return False
            host = (parts.hostname or "").lower()
            platform = settings.PLATFORM_DOMAIN
            if parts.scheme in ("http", "https") and (
                host == platform or host.endswith(f".{platform}")
            ):
                return True
        return super().is_safe_url(url)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # Platform admins run the platform: the console, not "Create your store" (an
        # explicit ?next= still wins; allauth checks it before asking the adapter).
        if getattr(request.user, "is_superuser", False):
            return reverse("console:stores")
        return super().get_login_redirect_url(request)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # allauth's own send_mail, except that a worker sends the message (allauth's
        # documented way to send mail asynchronously is overriding this method).
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        account_email_queue(message=self.render_mail(template_prefix, email, ctx))
