from __future__ import annotations

from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("buy/<slug:slug>/", views.checkout, name="checkout"),
    path("thanks/", views.thanks, name="thanks"),
    path("d/<str:token>/", views.download, name="download"),
    path("library/", views.library_request, name="library_request"),
    path("library/<str:token>/", views.library, name="library"),
    path("updates/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
