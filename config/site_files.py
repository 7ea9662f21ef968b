"""Files browsers and crawlers ask for at fixed addresses: /favicon.ico, the main domain's
/robots.txt (a store's own robots.txt is catalog.views.robots_txt)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(public=True, max_age=86_400)
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages link the icon (templates/base.html); this answers browsers that ask anyway.

    A temporary redirect: the static name is hashed and changes with the icon.
    """
    return HttpResponseRedirect(static("favicon.ico"))


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    """The landing page is for everyone; accounts, the console and the admin are not."""
    lines = [
        "User-agent: *",
        "Disallow: /accounts/",
        "Disallow: /console/",
        "Disallow: /admin/",
        "",
    ]
    return HttpResponse("\n".join(lines), content_type="text/plain")
