"""`obs-support incident …` — file, list, read and move incidents."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from obs_support.cli import values, voice
from obs_support.cli.attach_cmd import check_files, send_files
from obs_support.cli.context import State, die, print_json, say, state
from obs_support.cli.editor import edit_text
from obs_support.cli.output import stderr
from obs_support.client.errors import InvalidInput

if TYPE_CHECKING:
    from obs_support import schemas
    from obs_support.client.api import ObsClient

app = typer.Typer(help="File, list, read and update incidents.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (as the API returns it).")
AttachOpt = typer.Option([], "--attach", "-a", help="A file to attach (repeatable).")
MessageOpt = typer.Option(None, "--message", "-m", help="The text (opens $EDITOR if omitted).")
MessageFileOpt = typer.Option(
    None, "--message-file", "-F", help="Read the text from a file ('-' = stdin)."
)
StdinArg = typer.Argument(
    None, metavar="[-]", help="'-' reads the text from standard input.", show_default=False
)


def _read_message(
    st: State,
    message: str | None,
    message_file: str | None,
    dash: str | None,
    hint: str = "editor_hint",
) -> str:
    """The message from --message, --message-file, '-' (stdin) or the editor, in that order."""
    if dash not in (None, "-"):
        die(f"unexpected argument {dash!r}; use '-' to read the message from stdin", code=2)
    given = [x for x in (message, message_file, dash) if x is not None]
    if len(given) > 1:
        die("give the message once: --message, --message-file or '-'", code=2)
    if message is not None:
        text = message
    elif message_file == "-" or dash == "-":
        text = sys.stdin.read()
    elif message_file is not None:
        try:
            text = Path(message_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            die(f"cannot read {message_file}: {getattr(exc, 'strerror', None) or exc}", code=2)
    else:
        edited = edit_text(f"\n{st.t(hint)}\n")
        text = "\n".join(line for line in edited.splitlines() if not line.startswith("#"))
    if not text.strip():
        die(st.t("empty_message"))
    return text.strip("\n")


def _message_or_voice(
    st: State,
    client: ObsClient,
    spoken: voice.VoiceOptions,
    files: list[Path],
    message: str | None,
    message_file: str | None,
    dash: str | None,
    hint: str,
) -> tuple[str, str, list[Path]]:
    """(text, source, files): typed as before, or dictated with its recording attached."""
    if not spoken.active:
        return _read_message(st, message, message_file, dash, hint), "text", files
    if any(x is not None for x in (message, message_file, dash)):
        die("give the text either typed (--message, -F, '-') or spoken (--record, --audio)", code=2)
    names = [t.name for t in client.telescopes()]
    text, recording = voice.capture(st, spoken, names)
    return text, "voice", [*files, *check_files([recording])]


def _model(cls: type[schemas.Request], **fields: Any) -> Any:
    """Build a request body, refusing bad values in one line before anything is sent."""
    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValueError as exc:
        from obs_support.cli.auth_cmd import _first_error

        raise InvalidInput(_first_error(exc)) from None


def _account_id(client: ObsClient, name: str) -> int:
    accounts = client.accounts()
    for a in accounts:
        if a.name.casefold() == name.casefold() or str(a.id) == name:
            return a.id
    choices = ", ".join(a.name for a in accounts) or "none"
    raise InvalidInput(f"--account: no client account {name!r} (known: {choices})")


@app.command()
def create(
    ctx: typer.Context,
    type_: str = typer.Option(
        ...,
        "--type",
        "-t",
        help="question, installation, repair, upgrade, visit "
        "(or consulta, instalación, reparación, actualización, visita).",
        autocompletion=values.complete_type,
    ),
    priority: str = typer.Option(
        ...,
        "--priority",
        "-p",
        help="low/baja (0), medium/media (5), high/alta (10).",
        autocompletion=values.complete_priority,
    ),
    telescope: str | None = typer.Option(
        None, "--telescope", help="The telescope's name.", autocompletion=values.complete_telescope
    ),
    summary: str | None = typer.Option(
        None, "--summary", "-s", help="One line (default: the first line)."
    ),
    visit_date: datetime | None = typer.Option(
        None, "--visit-date", formats=["%Y-%m-%d"], help="For a visit: the requested date."
    ),
    account: str | None = typer.Option(
        None, "--account", help="Staff: the client account it is for."
    ),
    message: str | None = MessageOpt,
    message_file: str | None = MessageFileOpt,
    dash: str | None = StdinArg,
    attach: list[Path] = AttachOpt,
    record: bool = voice.RecordOpt,
    audio: Path | None = voice.AudioFileOpt,
    device: str | None = voice.DeviceOpt,
    max_seconds: float | None = voice.MaxSecondsOpt,
    stop_on_silence: float | None = voice.SilenceOpt,
    model: str | None = voice.ModelOpt,
    language: str | None = voice.LanguageOpt,
    yes: bool = voice.YesOpt,
    as_json: bool = JsonOpt,
) -> None:
    """File a new incident; prints its reference. --record dictates it instead of typing.

    Example: obs-support incident create --type reparación --priority alta -m "No hace GOTO"
    """
    from obs_support import schemas

    st = state(ctx)
    kind = values.incident_type(type_)
    prio = values.priority(priority)
    client = st.client()
    account_id = _account_id(client, account) if account else None
    files = check_files(attach)
    spoken = voice.VoiceOptions(
        record, audio, device, max_seconds, stop_on_silence, model, language, yes
    )
    if spoken.active and account_id is None and client.me().role.is_staff:
        die("staff file incidents for a client account: add --account", code=2)
    text, source, files = _message_or_voice(
        st, client, spoken, files, message, message_file, dash, "editor_hint"
    )
    body = _model(
        schemas.IncidentCreate,
        type=kind,
        priority=prio,
        message=text,
        source=source,
        summary=summary,
        telescope=telescope,
        client_account_id=account_id,
        visit_date=visit_date.date() if visit_date else None,
    )
    created = client.create_incident(body)
    if not as_json:
        say(st.t("created", ref=created.ref))
    if files:
        send_files(st, created.ref, files, quiet=as_json)
    if as_json:
        print_json(client.incident(created.ref) if files else created)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: list[str] = typer.Option(
        [], "--status", help="Repeat for several.", autocompletion=values.complete_status
    ),
    type_: str | None = typer.Option(None, "--type", autocompletion=values.complete_type),
    priority: str | None = typer.Option(
        None, "--priority", autocompletion=values.complete_priority
    ),
    telescope: str | None = typer.Option(
        None, "--telescope", help="Telescope name.", autocompletion=values.complete_telescope
    ),
    assignee: str | None = typer.Option(None, "--assignee", help="'me', 'none' or a user id."),
    search: str | None = typer.Option(
        None, "--search", "-q", help="Text in the summary or comments."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=200, help="Incidents per page."),
    all_: bool = typer.Option(False, "--all", help="Follow the pages to the end."),
    sort: str = typer.Option(
        "priority", "--sort", help="priority, created, -created, updated, -updated."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """List incidents, highest priority and oldest first.

    Example: obs-support incident list --status open --status en-progreso --assignee me
    """
    st = state(ctx)
    params: dict[str, Any] = {
        "status": [values.status(s, "--status").value for s in status],
        "type": values.incident_type(type_).value if type_ else None,
        "priority": int(values.priority(priority)) if priority else None,
        "assignee": assignee,
        "q": search,
        "limit": limit,
        "sort": sort,
    }
    if as_json and not telescope:
        # The scripting path: raw JSON straight through, without loading the API models.
        http = st.http()
        clean = {k: v for k, v in params.items() if v is not None and v != []}
        if all_:
            print_json(list(http.paged("/incidents", clean)))
        else:
            print_json(http.request("GET", "/incidents", params=clean)["items"])
        return
    from obs_support.cli import render

    client = st.client()
    if telescope:
        params["telescope"] = _telescope_id(client, telescope)
    if all_:
        items = list(client.iter_incidents(**params))
        more = False
    else:
        page = client.list_incidents(**params)
        items, more = page.items, page.next_cursor is not None
    if as_json:
        print_json(items)
        return
    if not items:
        say(st.t("none_found"))
        return
    me = client.me()
    render.incidents_table(st.t, items, show_account=me.role != "client")
    if more:
        stderr.print(st.t("more"), markup=False)


def _telescope_id(client: ObsClient, name: str) -> int:
    scopes = client.telescopes()
    matches = [s for s in scopes if s.name.casefold() == name.casefold() or str(s.id) == name]
    if len(matches) == 1:
        return matches[0].id
    if not matches:
        raise InvalidInput(f"--telescope: no telescope named {name!r}")
    raise InvalidInput(f"--telescope: {len(matches)} telescopes are named {name!r}; use its id")


@app.command()
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    as_json: bool = JsonOpt,
) -> None:
    """An incident and its whole history.

    Example: obs-support incident show TEIDE-42
    """
    from obs_support.cli import render

    st = state(ctx)
    incident = st.client().incident(ref)
    if as_json:
        print_json(incident)
    else:
        render.incident_detail(st.t, incident)


@app.command()
def comment(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    message: str | None = MessageOpt,
    message_file: str | None = MessageFileOpt,
    dash: str | None = StdinArg,
    internal: bool = typer.Option(False, "--internal", help="Staff: a note clients never see."),
    attach: list[Path] = AttachOpt,
    record: bool = voice.RecordOpt,
    audio: Path | None = voice.AudioFileOpt,
    device: str | None = voice.DeviceOpt,
    max_seconds: float | None = voice.MaxSecondsOpt,
    stop_on_silence: float | None = voice.SilenceOpt,
    model: str | None = voice.ModelOpt,
    language: str | None = voice.LanguageOpt,
    yes: bool = voice.YesOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a comment (or, for staff, an internal note); --record to dictate it.

    Example: echo "Sigue fallando tras reiniciar" | obs-support incident comment TEIDE-42 -
    """
    from obs_support import schemas

    st = state(ctx)
    client = st.client()
    files = check_files(attach)
    spoken = voice.VoiceOptions(
        record, audio, device, max_seconds, stop_on_silence, model, language, yes
    )
    if internal and (files or spoken.active):
        # Files belong to the incident and every client of the account can open them; an
        # internal note's words must not leak through its attachments or its recording.
        die(st.t("internal_no_files"), code=2)
    if spoken.active:
        client.incident(ref)  # an unknown incident is refused before anyone talks
    text, source, files = _message_or_voice(
        st, client, spoken, files, message, message_file, dash, "editor_hint_comment"
    )
    event = client.comment(
        ref, _model(schemas.CommentCreate, body=text, internal=internal, source=source)
    )
    if files:
        # The files follow the comment in the timeline, as a message with attachments.
        send_files(st, ref, files, quiet=as_json)
    if as_json:
        print_json(event)
    else:
        say(st.t("noted" if internal else "commented", ref=_canonical(client, ref)))


def _canonical(client: ObsClient, ref: str) -> str:
    ref = ref.strip().upper()
    return f"{client.me().observatory.slug}-{ref}" if ref.isdigit() else ref


@app.command()
def status(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    new_status: str = typer.Argument(
        ...,
        metavar="STATUS",
        help="open, in_progress, blocked, done, "
        "cancelled (or abierta, en-progreso, bloqueada, finalizada, cancelada).",
        autocompletion=values.complete_status,
    ),
    reason: str | None = typer.Option(
        None, "--reason", "-r", help="Required for blocked, cancelled, reopen."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change an incident's status.

    Example: obs-support incident status TEIDE-42 bloqueada --reason "Esperando repuesto"
    """
    from obs_support import schemas

    st = state(ctx)
    target = values.status(new_status)
    client = st.client()
    before = client.incident(ref)
    after = client.change_status(ref, _model(schemas.StatusChange, status=target, reason=reason))
    if as_json:
        print_json(after)
    elif before.status == after.status:
        say(st.t("status_same", ref=after.ref, new=st.t.status(after.status)))
    else:
        say(
            st.t(
                "status_set",
                ref=after.ref,
                old=st.t.status(before.status),
                new=st.t.status(after.status),
            )
        )


@app.command()
def assign(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    user: str = typer.Argument(..., help="'me', 'none', or a staff member's e-mail, name or id."),
    as_json: bool = JsonOpt,
) -> None:
    """Assign an incident to a staff member (staff).

    Example: obs-support incident assign TEIDE-42 me
    """
    from obs_support import schemas

    st = state(ctx)
    client = st.client()
    if user.lower() == "none":
        body = schemas.IncidentUpdate(unassign=True)
    else:
        body = schemas.IncidentUpdate(assignee_id=_user_id(client, user))
    after = client.update_incident(ref, body)
    if as_json:
        print_json(after)
    elif after.assignee:
        say(st.t("assigned", ref=after.ref, who=after.assignee.display_name))
    else:
        say(st.t("unassigned", ref=after.ref))


def _user_id(client: ObsClient, who: str) -> int:
    if who.lower() == "me":
        return client.me().id
    people = client.users()
    wanted = who.casefold()
    matches = [
        u for u in people if wanted in (u.email.casefold(), u.display_name.casefold(), str(u.id))
    ]
    if len(matches) != 1:
        problem = "no such user" if not matches else "several users match"
        raise InvalidInput(f"USER: {problem}: {who!r}")
    return matches[0].id


@app.command()
def priority(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="TEIDE-42 or 42."),
    new_priority: str = typer.Argument(
        ..., metavar="PRIORITY", autocompletion=values.complete_priority
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change an incident's priority (staff).

    Example: obs-support incident priority TEIDE-42 alta
    """
    from obs_support import schemas

    st = state(ctx)
    prio = values.priority(new_priority, "PRIORITY")
    after = st.client().update_incident(ref, schemas.IncidentUpdate(priority=prio))
    if as_json:
        print_json(after)
    else:
        say(st.t("priority_set", ref=after.ref, new=st.t.priority(after.priority)))


@app.command("bulk-status")
def bulk_status(
    ctx: typer.Context,
    new_status: str = typer.Argument(..., metavar="STATUS", autocompletion=values.complete_status),
    refs: list[str] = typer.Argument(
        None, metavar="[REF]...", help="References; '-' reads them from stdin."
    ),
    from_file: str | None = typer.Option(
        None, "--from-file", help="One reference per line ('-' = stdin)."
    ),
    filter_status: list[str] = typer.Option(
        [],
        "--filter-status",
        help="Select incidents in these statuses.",
        autocompletion=values.complete_status,
    ),
    older_than: str | None = typer.Option(
        None, "--older-than", help="Select incidents not updated for this long: 30d, 12h, 2w."
    ),
    reason: str | None = typer.Option(None, "--reason", "-r"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would change; change nothing."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change the status of many incidents at once — made for cron.

    Prints one line per incident (changed, unchanged, refused and why); exits 5 when any was
    refused or not found. Running it again changes nothing more.

    Example: obs-support incident bulk-status done --filter-status blocked --older-than 90d -r "Old"
    """
    from obs_support import schemas

    st = state(ctx)
    target = values.status(new_status)
    wanted = [r for r in (refs or []) if r != "-"]
    if "-" in (refs or []) or from_file == "-":
        wanted += _refs_from_lines(sys.stdin.read())
    elif from_file:
        try:
            wanted += _refs_from_lines(Path(from_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            die(f"cannot read {from_file}: {getattr(exc, 'strerror', None) or exc}", code=2)
    client = st.client()
    if filter_status or older_than:
        params: dict[str, Any] = {
            "status": [values.status(s, "--filter-status").value for s in filter_status],
            "limit": 200,
            "sort": "created",
        }
        if older_than:
            params["updated_before"] = (datetime.now(UTC) - values.age(older_than)).isoformat()
        wanted += [i.ref for i in client.iter_incidents(**params)]
    if not wanted and not (filter_status or older_than):
        die(
            "no incidents given: pass references, --from-file, or --filter-status/--older-than",
            code=2,
        )
    results: list[schemas.BulkItemResult] = []
    # The API takes up to 1000 references per call.
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        body = _model(
            schemas.BulkStatusChange, refs=chunk, status=target, reason=reason, dry_run=dry_run
        )
        results += client.bulk_status(body).results
    tally = {
        k: sum(r.result == k for r in results)
        for k in ("changed", "unchanged", "refused", "not_found")
    }
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "status": target.value,
                **tally,
                "results": [r.model_dump(mode="json") for r in results],
            }
        )
    else:
        for r in results:
            why = f": {r.message} ({r.code})" if r.result in ("refused", "not_found") else ""
            # Tab-separated and untranslated: cron jobs parse these lines.
            typer.echo(f"{r.ref}\t{r.result}{why}")
        stderr.print(
            st.t("bulk_summary", **tally, dry=st.t("dry") if dry_run else ""), markup=False
        )
    if tally["refused"] or tally["not_found"]:
        raise typer.Exit(values.EXIT_REFUSED)


def _refs_from_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        out += line.split()
    return out
