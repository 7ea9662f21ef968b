from __future__ import annotations

from functools import wraps

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def seller_required(view):
    """Logged in with a verified email address."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not EmailAddress.objects.filter(user=request.user, verified=True).exists():
            messages.warning(request, "Please verify your email address before creating a store.")
            return redirect("account_email")
        return view(request, *args, **kwargs)

    return wrapper
