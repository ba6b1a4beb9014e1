import factory
from django.contrib.auth.models import Group

from apps.accounts.models import Desk, Region, User

PASSWORD = "correct-horse-battery-staple"


class DeskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Desk
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"desk-{n}")
    name = factory.Sequence(lambda n: f"Desk {n}")
    region = Region.EU


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    region = Region.EU
    # Hashed before the first save: set_password after creation would be a password change
    # (and close the new user's sockets, which an e2e test's event loop cannot do).
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        for role in extracted or []:
            self.groups.add(Group.objects.get_or_create(name=role)[0])
        self.save()

    @factory.post_generation
    def desks(self, create: bool, extracted: list[Desk] | None, **kwargs: object) -> None:
        for desk in extracted or []:
            self.desks.add(desk)
