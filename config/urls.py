from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from config import views
from config.accounts.forms import PortalLoginForm
from config.api import WhoAmIApi

handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(
        authentication_form=PortalLoginForm, redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("cases/", include("cases.urls")),
    path("screening/", include("screening.urls")),
    path("lists/", include("screening.lists.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("enrichment/", include("enrichment.urls")),
    path("audit/", include("audit.urls")),
    # The schema and its docs are public: they describe the API, they expose no data.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]),
         name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema",
                                                     permission_classes=[AllowAny]),
         name="api-docs"),
    path("api/v1/me", WhoAmIApi.as_view(), name="api-me"),
    path("api/v1/", include("cases.api.urls")),
    path("api/v1/", include("screening.api.urls")),
    path("api/v1/", include("screening.lists.api.urls")),
    path("api/v1/", include("monitoring.api.urls")),
    path("api/v1/", include("enrichment.api.urls")),
    path("api/v1/", include("audit.api.urls")),
]
