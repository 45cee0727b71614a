from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("account/", views.account_page, name="account-page"),
    path("account/tokens/<int:token_id>/revoke/", views.api_token_revoke_page, name="token-revoke"),
]
