"""Small dialogs for the actions: write a text, pick one of a few choices."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from obs_support.tui.text import literal

R = TypeVar("R")


class SendCancelModal(ModalScreen[R | None]):
    """A dialog that ends with Send or Cancel: its buttons, Esc, and what each one does.

    Subclasses compose their fields, then `yield from self.buttons(...)`, and say in
    `action_send` what sending means (dismissing with the result, or showing a problem).
    """

    def buttons(self, send_label: str, cancel_label: str) -> ComposeResult:
        with Horizontal(id="buttons"):
            yield Button(send_label, variant="primary", id="send")
            yield Button(cancel_label, id="cancel")

    def action_send(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.action_cancel()


class TextModal(SendCancelModal[str]):
    """A multi-line text to send (a reply or an internal note). Ctrl-S sends, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send"),
    ]

    def __init__(self, title: str, send_label: str, cancel_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.send_label = send_label
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield TextArea(id="text")
            yield from self.buttons(self.send_label, self.cancel_label)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_send(self) -> None:
        text = self.query_one(TextArea).text.strip()
        if text:
            self.dismiss(text)


class ChoiceModal(ModalScreen[str | None]):
    """Pick one of a few options (arrows and Enter, or the mouse); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield OptionList(*[Option(literal(label), id=value) for value, label in self.options])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "")

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """The keys, in the user's language. Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Label(literal(self.text, multiline=True), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
