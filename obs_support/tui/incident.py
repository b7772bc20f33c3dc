"""One incident: its header, its whole timeline, its files, and the actions staff take on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from obs_support import domain, schemas
from obs_support.cli.render import priority_text, status_text
from obs_support.client.errors import ClientError
from obs_support.tui.attachments import AttachmentsPanel
from obs_support.tui.handoff import deliver
from obs_support.tui.messages import LiveEventArrived, RequestFailed
from obs_support.tui.modals import ChoiceModal, TextModal
from obs_support.tui.text import literal
from obs_support.tui.widgets import localize_bindings, timeline_entry

if TYPE_CHECKING:
    from pathlib import Path

    from obs_support.tui.app import ObsSupportApp
    from obs_support.tui.voice import VoiceReply


class IncidentScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reply", "Reply"),
        Binding("n", "note", "Internal note"),
        Binding("s", "status", "Status"),
        Binding("a", "assign", "Assign"),
        Binding("p", "priority", "Priority"),
        Binding("v", "voice", "Voice"),
        Binding("f", "attach", "Attach"),
    ]

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref
        self.detail: schemas.IncidentDetail | None = None
        self.files = AttachmentsPanel(id="files-panel")

    @property
    def obs(self) -> ObsSupportApp:
        from obs_support.tui.app import ObsSupportApp

        assert isinstance(self.app, ObsSupportApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="incident-header")
        with VerticalScroll(id="timeline"):
            yield Static(id="events")
        yield self.files
        yield Footer()

    def on_mount(self) -> None:
        localize_bindings(
            self,
            self.obs.t,
            {
                "app.pop_screen": "key_back",
                "reply": "tui_reply",
                "note": "tui_note",
                "status": "key_status",
                "assign": "key_assign",
                "priority": "tui_priority",
                "voice": "key_voice",
                "attach": "key_attach",
            },
        )
        self.sub_title = self.ref
        self.load()

    @work(thread=True, exclusive=True, group="incident")
    def load(self) -> None:
        client, files = self.obs.client, self.files
        try:
            detail = client.incident(self.ref)
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(self, self._show, detail)
        if not files.needs_reload(detail.events):
            return  # the list is asked for only when the history names files it does not show
        try:
            found = client.attachments(detail.ref)
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(files, files.show, detail.ref, found, detail.events)

    def _show(self, d: schemas.IncidentDetail) -> None:
        self.detail = d
        self.ref = d.ref
        t = self.obs.t
        head = Text.assemble(
            Text(d.ref, style="bold"),
            "  ",
            Text(t.type(d.type.value)),
            "  ",
            priority_text(t, d.priority),
            "  ",
            status_text(t, d.status.value),
            "\n",
            literal(d.summary, "bold"),
            "\n",
            Text(f"{t('col_account')}: ", style="dim"),
            literal(d.client_account.name),
            Text(f"   {t('col_telescope')}: ", style="dim"),
            literal(d.telescope.name if d.telescope else "—"),
            Text(f"   {t('col_assignee')}: ", style="dim"),
            literal(d.assignee.display_name if d.assignee else t("nobody")),
            Text(f"   {t('col_created')}: ", style="dim"),
            Text(d.created_at.astimezone().strftime("%Y-%m-%d %H:%M")),
        )
        self.query_one("#incident-header", Static).update(head)
        names = {e.actor.id: e.actor.display_name for e in d.events}
        if d.assignee:
            names[d.assignee.id] = d.assignee.display_name
        self.query_one("#events", Static).update(
            Group(*[timeline_entry(t, e, names) for e in d.events])
        )
        self.query_one("#timeline", VerticalScroll).scroll_end(animate=False)

    @on(LiveEventArrived)
    def live(self, message: LiveEventArrived) -> None:
        if message.event.incident.ref == self.ref:
            self.load()

    @on(AttachmentsPanel.Changed)
    def files_changed(self) -> None:
        self.load()

    # --- actions ---------------------------------------------------------------------------

    def action_reply(self) -> None:
        t = self.obs.t

        def send(text: str | None) -> None:
            if text:
                self.send_comment(text, internal=False)

        self.app.push_screen(TextModal(t("tui_reply"), t("tui_send"), t("tui_cancel")), send)

    def action_note(self) -> None:
        t = self.obs.t
        if not self.obs.is_staff:
            self.notify(t("tui_staff_only"), severity="warning")
            return

        def send(text: str | None) -> None:
            if text:
                self.send_comment(text, internal=True)

        self.app.push_screen(TextModal(t("tui_note"), t("tui_send"), t("tui_cancel")), send)

    @work(thread=True, group="change")
    def send_comment(self, text: str, *, internal: bool) -> None:
        try:
            self.obs.client.comment(self.ref, schemas.CommentCreate(body=text, internal=internal))
        except (ClientError, ValueError) as exc:
            self.post_message(RequestFailed(getattr(exc, "message", str(exc))))
            return
        t = self.obs.t
        deliver(self.app, self.obs.say, t("noted" if internal else "commented", ref=self.ref))
        self.load()

    def action_status(self) -> None:
        if self.detail is None:
            return
        t = self.obs.t
        options = [(s.value, t.status(s.value)) for s in self.detail.allowed_statuses]
        if not options:
            self.notify(t("tui_no_transitions"), severity="warning")
            return
        current = domain.Status(self.detail.status.value)

        def chosen(value: str | None) -> None:
            if not value:
                return
            target = domain.Status(value)
            verdict = domain.check_transition(current, target, self.obs.role, None)
            if verdict.refused is not None and verdict.refused.code == "reason_required":

                def with_reason(reason: str | None) -> None:
                    if reason:
                        self.set_status(target, reason)

                self.app.push_screen(
                    TextModal(t("tui_reason"), t("tui_send"), t("tui_cancel")), with_reason
                )
            else:
                self.set_status(target, None)

        self.app.push_screen(ChoiceModal(t("tui_status"), options), chosen)

    @work(thread=True, group="change")
    def set_status(self, target: domain.Status, reason: str | None) -> None:
        try:
            after = self.obs.client.change_status(
                self.ref, schemas.StatusChange(status=target, reason=reason)
            )
        except (ClientError, ValueError) as exc:
            self.post_message(RequestFailed(getattr(exc, "message", str(exc))))
            return
        t = self.obs.t
        deliver(self.app, self.obs.say, f"{after.ref}: {t.status(after.status.value)}")
        deliver(self, self._show, after)

    def action_priority(self) -> None:
        t = self.obs.t
        if not self.obs.is_staff:
            self.notify(t("tui_staff_only"), severity="warning")
            return
        options = [(str(int(p)), t.priority(int(p))) for p in reversed(domain.Priority)]

        def chosen(value: str | None) -> None:
            if value:
                self.save_update(schemas.IncidentUpdate(priority=int(value)))

        self.app.push_screen(ChoiceModal(t("tui_priority"), options), chosen)

    def action_assign(self) -> None:
        t = self.obs.t
        if not self.obs.is_staff:
            self.notify(t("tui_staff_only"), severity="warning")
            return
        self.pick_assignee()

    @work(thread=True, group="change")
    def pick_assignee(self) -> None:
        t = self.obs.t
        try:
            staff = [u for u in self.obs.client.users() if u.role.is_staff and u.active]
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        options = [(str(self.obs.me.id), t("tui_me")), ("none", t("nobody"))]
        options += [(str(u.id), u.display_name) for u in staff if u.id != self.obs.me.id]

        def chosen(value: str | None) -> None:
            if value == "none":
                self.save_update(schemas.IncidentUpdate(unassign=True))
            elif value:
                self.save_update(schemas.IncidentUpdate(assignee_id=int(value)))

        deliver(self, self.app.push_screen, ChoiceModal(t("tui_assign"), options), chosen)

    @work(thread=True, group="change")
    def save_update(self, body: schemas.IncidentUpdate) -> None:
        try:
            after = self.obs.client.update_incident(self.ref, body)
        except ClientError as exc:
            self.post_message(RequestFailed(exc.message))
            return
        deliver(self.app, self.obs.say, self.obs.t("tui_saved", ref=after.ref))
        deliver(self, self._show, after)

    # --- files and voice -------------------------------------------------------------------

    def action_attach(self) -> None:
        from obs_support.tui.media import AttachModal

        def chosen(paths: list[Path] | None) -> None:
            if paths:
                self.files.upload(self.ref, paths)

        title = self.obs.t("tui_attach_title", ref=self.ref)
        self.app.push_screen(AttachModal(self.obs.t, title), chosen)

    def action_voice(self) -> None:
        self.open_voice()

    @work(thread=True, exclusive=True, group="voice")
    def open_voice(self) -> None:
        from obs_support.tui.voice import VoiceModal

        try:
            # Their names join the transcriber's vocabulary, as in the CLI.
            names = [t.name for t in self.obs.client.telescopes()]
        except ClientError:
            names = []  # a hint for the transcriber; not worth refusing to record over
        deliver(
            self,
            self.app.push_screen,
            VoiceModal(self.obs.t, self.obs.t("tui_voice_title", ref=self.ref), names),
            self._spoken,
        )

    def _spoken(self, reply: VoiceReply | None) -> None:
        if reply is not None:
            self.send_voice(reply)

    @work(thread=True, group="change")
    def send_voice(self, reply: VoiceReply) -> None:
        """The text as a spoken comment, then its recording, as `incident comment --record`."""
        body = {"body": reply.text, "internal": False, "source": domain.CommentSource.VOICE}
        try:
            self.obs.client.comment(self.ref, schemas.CommentCreate.model_validate(body))
        except (ClientError, ValueError) as exc:
            self.post_message(RequestFailed(getattr(exc, "message", str(exc))))
            return
        deliver(self.app, self.obs.say, self.obs.t("commented", ref=self.ref))
        self.files.send_file(self.ref, reply.recording)
        self.load()
