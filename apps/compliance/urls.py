from django.urls import path

from apps.compliance import views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
]

api_urlpatterns: list = []
