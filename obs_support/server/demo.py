"""A demo observatory with believable data, built through the same services the API uses."""

from __future__ import annotations

import itertools
import random

from sqlalchemy import delete
from sqlmodel import Session, select

from obs_support import domain, schemas
from obs_support.config import ServerSettings
from obs_support.domain import IncidentType, Priority, Status
from obs_support.server import secrets
from obs_support.server.models import ClientAccount, Observatory, Outbox, Telescope, User
from obs_support.server.services import incidents
from obs_support.server.services.setup import create_observatory

SLUG = "TEIDE"
PASSWORD = "teide-demo-2026"  # noqa: S105 - the documented demo password
STAFF_EMAIL = "staff@teide.example"
CLIENT_EMAIL = "laura@astroclub.example"

_ACCOUNTS = {
    "Agrupación Astronómica de Canarias": [
        ("Celestron C14", "Celestron EdgeHD 14", "Paramount ME II", "Cúpula 2"),
        ("Newton 300", "Newton 300 mm f/4", "10Micron GM2000", "Pilar 5"),
    ],
    "Universidad de Leiden": [
        ("PlaneWave CDK20", "PlaneWave CDK20", "PlaneWave L-500", "Cúpula 4"),
        ("Takahashi FSQ", "Takahashi FSQ-106EDX4", "Astro-Physics Mach2", "Pilar 1"),
    ],
}
_PEOPLE = [
    ("staff", STAFF_EMAIL, "Carlos Pérez", None, "es"),
    ("staff", "elena@teide.example", "Elena Rodríguez", None, "es"),
    ("client", CLIENT_EMAIL, "Laura Martín", "Agrupación Astronómica de Canarias", "es"),
    (
        "client",
        "jorge@astroclub.example",
        "Jorge Hernández",
        "Agrupación Astronómica de Canarias",
        "es",
    ),
    ("client", "pieter@leiden.example", "Pieter de Vries", "Universidad de Leiden", "en"),
]
MESSAGES = {
    IncidentType.QUESTION: [
        "¿Cuál es el horario de acceso a la cúpula en invierno?",
        "Can we get remote access credentials for the weather station data?",
    ],
    IncidentType.INSTALLATION: [
        "Instalar la nueva cámara QHY600 en el tren óptico",
        "Please install our new focuser and route its cable through the mount",
    ],
    IncidentType.REPAIR: [
        "La montura no responde al hacer GOTO desde anoche",
        "Dome shutter stops halfway and shows a motor fault",
    ],
    IncidentType.UPGRADE: [
        "Actualizar el firmware de la montura a la última versión",
        "Upgrade the control PC to the current observatory image",
    ],
    IncidentType.VISIT: [
        "Solicitamos una visita para revisar la colimación en persona",
        "Our team would like to visit to swap the filter wheel",
    ],
}
_FLOWS: list[list[tuple[Status, str | None]]] = [
    [],
    [(Status.IN_PROGRESS, None)],
    [(Status.BLOCKED, "Esperando repuesto del fabricante")],
    [(Status.IN_PROGRESS, None), (Status.DONE, None)],
    [(Status.CANCELLED, "El cliente resolvió el problema por su cuenta")],
    [
        (Status.IN_PROGRESS, None),
        (Status.BLOCKED, "Sin acceso por mal tiempo"),
        (Status.IN_PROGRESS, None),
    ],
]


def exists(session: Session) -> bool:
    return session.exec(select(Observatory).where(Observatory.slug == SLUG)).first() is not None


def seed(session: Session, settings: ServerSettings, count: int = 30) -> None:
    """Create the demo observatory, its people, telescopes and `count` incidents."""
    rng = random.Random(42)
    obs, admin, _ = create_observatory(
        session,
        name="Observatorio del Teide",
        slug=SLUG,
        admin_email="admin@teide.example",
        admin_name="Ana Admin",
        admin_password=PASSWORD,
    )
    obs.accent_color, obs.support_email = "#e3642b", "soporte@teide.example"
    session.add(obs)
    assert obs.id is not None
    accounts: dict[str, ClientAccount] = {}
    telescopes: dict[int, list[Telescope]] = {}
    for name, scopes in _ACCOUNTS.items():
        account = ClientAccount(observatory_id=obs.id, name=name)
        session.add(account)
        session.flush()
        assert account.id is not None
        accounts[name] = account
        telescopes[account.id] = []
        for t_name, model, mount, location in scopes:
            t = Telescope(
                observatory_id=obs.id,
                client_account_id=account.id,
                name=t_name,
                model=model,
                mount=mount,
                location=location,
            )
            session.add(t)
            telescopes[account.id].append(t)
    people: list[User] = []
    for role, email, name, account_name, lang in _PEOPLE:
        user = User(
            observatory_id=obs.id,
            email=email,
            display_name=name,
            role=role,
            language=lang,
            client_account_id=accounts[account_name].id if account_name else None,
            password_hash=secrets.hash_password(PASSWORD),
        )
        session.add(user)
        people.append(user)
    session.flush()
    staff = [admin] + [p for p in people if p.role == "staff"]
    clients = [p for p in people if p.role == "client"]
    combos = itertools.cycle(itertools.product(IncidentType, Priority))
    for i in range(count):
        kind, priority = next(combos)
        client = clients[i % len(clients)]
        assert client.client_account_id is not None
        owned = telescopes[client.client_account_id]
        telescope = owned[i % len(owned)] if i % 4 else None
        body = schemas.IncidentCreate(
            type=kind,
            priority=priority,
            message=rng.choice(MESSAGES[kind]),
            telescope_id=telescope.id if telescope else None,
        )
        created = incidents.create(session, settings, client, body)
        actor = staff[(i // 3) % len(staff)]  # spread the assignments over the staff
        if i % 3 == 0:
            incidents.update_incident(
                session, settings, actor, created.ref, schemas.IncidentUpdate(assignee_id=actor.id)
            )
        if i % 5 == 1:
            incidents.comment(
                session,
                settings,
                actor,
                created.ref,
                schemas.CommentCreate(
                    body="Revisado en la ronda de mañana; seguimos.", internal=i % 2 == 0
                ),
            )
        for target, reason in _FLOWS[i % len(_FLOWS)]:
            who = client if target is Status.CANCELLED else actor
            incidents.change_status(
                session,
                settings,
                who,
                created.ref,
                schemas.StatusChange(status=target, reason=reason),
            )
    # The seeding itself is history, not news: nobody is e-mailed about made-up incidents (the
    # in-app notifications stay, so the demo shows some).
    session.execute(delete(Outbox))


def describe(public_url: str) -> str:
    ref = domain.incident_reference(SLUG, 1)
    return "\n".join(
        [
            f"Demo observatory {SLUG} at {public_url}",
            f"  staff:  {STAFF_EMAIL}   password: {PASSWORD}",
            f"  client: {CLIENT_EMAIL}   password: {PASSWORD}",
            "Log in with the CLI:",
            f"  obs-support login {public_url} --email {STAFF_EMAIL}",
            "Or with curl:",
            f"  curl -s {public_url}/api/v1/auth/login -H 'Content-Type: application/json' \\",
            f'    -d \'{{"email": "{STAFF_EMAIL}", "password": "{PASSWORD}"}}\'',
            f"  curl -s {public_url}/api/v1/incidents/{ref} -H 'Authorization: Bearer <token>'",
            f"API documentation: {public_url}/api/v1/docs",
        ]
    )
