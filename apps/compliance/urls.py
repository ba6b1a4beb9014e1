from django.urls import path

from apps.compliance import views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_trail, name="audit-trail"),
]

api_urlpatterns: list = []
