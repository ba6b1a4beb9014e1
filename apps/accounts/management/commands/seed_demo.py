"""Demo data: three desks and demo users of every role, each in a region: a trader per desk,
two risk managers, two compliance officers, two administrators (four eyes needs a second
person) and a field operator.

Safe by default: with DEBUG off it refuses unless --force is given, and then the demo users get
no usable password (an administrator sets one with `changepassword`); random passwords are made
and printed only with DEBUG on. Running it again changes nothing that exists.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts import services
from apps.accounts.models import Desk, Region, Role, User


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    region: str
    language: str
    desks: tuple[str, ...]
    is_staff: bool = False
    also: tuple[str, ...] = ()  # further roles held with `role`


DESKS = (
    ("power-eu", "Power Europe", Region.EU),
    ("gas-us", "Gas US", Region.US),
    ("crude-me", "Crude Middle East", Region.MIDDLE_EAST),
)

ALL_DESKS = ("power-eu", "gas-us", "crude-me")

# Two of each approving role, so that four eyes (a second person) can be shown with demo users.
USERS = (
    DemoUser("demo-trader", "Tara", "Trader", Role.TRADER, Region.US, "en", ("gas-us",)),
    DemoUser(
        "demo-trader-me", "Omar", "Haddad", Role.TRADER, Region.MIDDLE_EAST, "ar", ("crude-me",)
    ),
    DemoUser("demo-trader-eu", "Elena", "Weber", Role.TRADER, Region.EU, "en", ("power-eu",)),
    # The firm view needs the firm risk manager role: demo-risk-2 has every desk but not it.
    DemoUser(
        "demo-risk",
        "Rita",
        "Risk",
        Role.RISK_MANAGER,
        Region.UK,
        "en",
        ALL_DESKS,
        also=(Role.FIRM_RISK_MANAGER,),
    ),
    DemoUser("demo-risk-2", "Ravi", "Shah", Role.RISK_MANAGER, Region.UK, "en", ALL_DESKS),
    DemoUser(
        "demo-compliance",
        "Claire",
        "Compliance",
        Role.COMPLIANCE_OFFICER,
        Region.EU,
        "",
        (),
        is_staff=True,
    ),
    DemoUser(
        "demo-compliance-2",
        "Chidi",
        "Okafor",
        Role.COMPLIANCE_OFFICER,
        Region.EU,
        "",
        (),
        is_staff=True,
    ),
    DemoUser("demo-field", "Felix", "Field", Role.FIELD_OPERATOR, Region.GUYANA, "", ()),
    DemoUser("demo-admin", "Ada", "Admin", Role.ADMINISTRATOR, Region.EU, "", (), is_staff=True),
    DemoUser(
        "demo-admin-2", "Aziz", "Rahman", Role.ADMINISTRATOR, Region.EU, "", (), is_staff=True
    ),
)


class Command(BaseCommand):
    help = "Create the demo desks and demo users of every role (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any user exists already."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run with DEBUG off too; the demo users then get no usable password.",
        )

    def handle(self, *args: Any, if_empty: bool, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo makes demo accounts; with DEBUG off it runs only with --force "
                "(and then sets no passwords)."
            )
        if if_empty and User.objects.exists():
            self.stdout.write("Users exist already; nothing to do (--if-empty).")
            return
        groups = services.role_groups_ensure()
        desks: dict[str, Desk] = {}
        for code, name, region in DESKS:
            desk = Desk.objects.filter(code=code).first()
            if desk is None:
                desk = services.desk_save(
                    actor=None, desk=Desk(code=code, name=name, region=region)
                )
                self.stdout.write(f"desk {code}: created")
            desks[code] = desk
        with_passwords = settings.DEBUG
        for demo in USERS:
            if User.objects.filter(username=demo.username).exists():
                self.stdout.write(f"user {demo.username}: exists, left unchanged")
                continue
            user = User(
                username=demo.username,
                first_name=demo.first_name,
                last_name=demo.last_name,
                email=f"{demo.username}@example.com",
                region=demo.region,
                language=demo.language,
                is_staff=demo.is_staff,
            )
            password = secrets.token_urlsafe(12) if with_passwords else None
            user.set_password(password)  # None makes an unusable password
            services.user_save(
                actor=None,
                user=user,
                groups=[groups[role] for role in (demo.role, *demo.also)],
                desks=[desks[code] for code in demo.desks],
            )
            if password:
                self.stdout.write(f"user {demo.username} ({demo.role}): password {password}")
            else:
                self.stdout.write(f"user {demo.username} ({demo.role}): created without password")
