"""Access to the console: superusers only, and nobody else learns it exists."""

from __future__ import annotations

from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse


def superuser_required(view):
    """A superuser gets the page; anyone else (anonymous included) gets a plain 404.

    Not a login redirect: a redirect to the login page would tell a visitor there is
    something here worth logging in for.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_superuser):
            raise Http404("Page not found")
        return view(request, *args, **kwargs)

    return wrapper
