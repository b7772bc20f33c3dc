"""Properties of the small functions that stand between user text and a file name, an e-mail
header, a parsed value or the terminal: they hold for any input, not only for chosen cases."""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from obs_support import domain
from obs_support.cli import values
from obs_support.domain import IncidentType, Priority, Status
from obs_support.server.mail.letter import header_text
from obs_support.server.mail.outbox import _address
from obs_support.server.services.attachments import NAME_MAX, display_name
from obs_support.tui.text import clean, literal

# Text that leans on the characters that break things: separators, dots, controls, bidi marks,
# line and paragraph separators, combining marks, surrogate-free astral characters.
NASTY = "/\\.\x00\x07\x08\t\n\r\x1b\x7f\x85\u200e\u202e\u2028\u2029\u0301\ufeff [ ]é€😀"
nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=300)
long_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), min_size=240, max_size=600)
PROPS = settings(max_examples=300, deadline=None)


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


# --- the attachment file-name sanitizer --------------------------------------------------------


@PROPS
@given(nasty_text | long_text)
@example("../../etc/passwd")
@example("..")
@example("C:\\Windows\\system32\\..\\evil.exe")
@example("a" * 300 + ".tar.gz")
@example("\x1b[31mred\x1b[0m.txt")
def test_file_names_are_one_printable_component(raw: str) -> None:
    name = display_name(raw)
    assert name
    assert "/" not in name and "\\" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert not any(is_control(c) for c in name)
    assert name.isprintable()
    assert len(name) <= NAME_MAX
    assert display_name(name) == name  # idempotent: showing it again changes nothing


@PROPS
@given(
    stem=st.text(st.characters(categories=("L", "N")), min_size=1, max_size=400),
    ext=st.text(st.characters(categories=("Ll", "Nd")), min_size=1, max_size=8),
)
def test_file_names_keep_their_extension(stem: str, ext: str) -> None:
    ext = unicodedata.normalize("NFC", ext)
    raw = unicodedata.normalize("NFC", f"{stem}.{ext}")
    name = display_name(raw)
    assert name.endswith(f".{ext}")
    if len(raw) <= NAME_MAX:
        assert name == raw


# --- e-mail headers ----------------------------------------------------------------------------


@PROPS
@given(nasty_text, st.integers(min_value=2, max_value=400))
@example("Subject\r\nBcc: victim@example.org", 200)
@example("a\u2028b\u2029c\x85d", 200)
def test_header_text_is_one_line_of_the_visible_text(value: str, limit: int) -> None:
    out = header_text(value, limit)
    assert not any(is_control(c) or c in "\r\n" for c in out)
    assert len(out) <= limit
    visible = " ".join(
        "".join(
            " " if is_control(c) or unicodedata.category(c)[0] == "C" else c for c in value
        ).split()
    )
    if len(visible) <= limit:
        assert out == visible  # round trip: what a reader sees is what the user typed
    else:
        assert out.endswith("…") and visible.startswith(out[:-1])


@PROPS
@given(name=nasty_text, subject=nasty_text)
@example(name="Evil\r\nBcc: x@example.org", subject="hi\nX-Injected: 1")
def test_no_line_break_from_user_text_reaches_a_message_header(name: str, subject: str) -> None:
    msg = EmailMessage()
    msg["To"] = _address(name, "someone@example.org")
    msg["Subject"] = header_text(subject, 400)
    wire = msg.as_bytes(policy=SMTP).decode("ascii")
    head = wire.split("\r\n\r\n", 1)[0]
    # Folding may continue a header on a line starting with white space; nothing else may start.
    lines = head.split("\r\n")
    assert all(
        line[:1] in (" ", "\t")
        or line.split(":", 1)[0]
        in ("To", "Subject", "Content-Type", "Content-Transfer-Encoding", "MIME-Version")
        for line in lines
    ), head
    assert msg["To"].addresses[0].addr_spec == "someone@example.org"


# --- parsing values ----------------------------------------------------------------------------


def spellings(member: IncidentType | Status | Priority) -> set[str]:
    names = {member.name.lower(), *(domain.label(member, lang) for lang in domain.LANGUAGES)}
    if not isinstance(member, Priority):
        names.add(str(member.value))
    else:
        names.add(str(member.value))
    return names


PARSERS = [
    (domain.parse_type, IncidentType),
    (domain.parse_status, Status),
    (domain.parse_priority, Priority),
]


@pytest.mark.parametrize(("parse", "kind"), PARSERS, ids=["type", "status", "priority"])
def test_every_documented_spelling_is_accepted(parse: object, kind: type) -> None:
    for member in kind:
        for text in spellings(member):
            for variant in (text, text.upper(), f"  {text} ", text.replace("_", " ")):
                assert parse(variant) is member, variant  # type: ignore[operator]


def folded_spellings() -> set[str]:
    out: set[str] = set()
    for _parse, kind in PARSERS:
        for member in kind:
            out |= {domain._fold(s) for s in spellings(member)}
    return out


KNOWN = folded_spellings()


@PROPS
@given(text=nasty_text)
@example(text="１０")  # full-width digits look like a priority but are not one
@example(text="-0")
@example(text="99999999999999999999999")
def test_other_text_is_refused_with_a_clear_message(text: str) -> None:
    for parse, kind in PARSERS:
        try:
            result = parse(text)  # type: ignore[operator]
        except ValueError as exc:
            message = str(exc)
            assert message.startswith("unknown") or "priority" in message
            assert "expected" in message
        else:
            assert isinstance(result, kind)
            numeric = kind is Priority and text.strip().lstrip("-").isdigit()
            assert numeric or domain._fold(text) in KNOWN, text


@PROPS
@given(text=nasty_text)
def test_cli_values_refuse_with_exit_5_and_nothing_else(text: str) -> None:
    import typer

    for fn in (values.incident_type, values.status, values.priority, values.age):
        code = None
        try:
            fn(text)
        except typer.Exit as exc:
            code = exc.exit_code
        assert code in (None, values.EXIT_REFUSED)


# --- the terminal's literal rendering of user text ---------------------------------------------


@PROPS
@given(value=nasty_text | st.none(), multiline=st.booleans())
@example(value="[bold red]boss[/] [link=https://evil.example]click[/link]", multiline=False)
@example(value="\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", multiline=True)
def test_literal_shows_user_text_as_typed_and_nothing_more(
    value: str | None, multiline: bool
) -> None:
    shown = literal(value, multiline=multiline)
    assert isinstance(shown, Text)
    assert shown.spans == []  # no style or link came from the input
    assert str(shown.style) == ""
    assert shown.plain == clean(value or "", keep_newlines=multiline)
    for ch in shown.plain:
        assert not (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != "\n")
    if not multiline:
        assert "\n" not in shown.plain
    # Markup in the input stays text: the same characters, no link in any segment.
    segments = list(shown.render(Console()))
    assert all(s.style is None or s.style.link is None for s in segments)


@PROPS
@given(value=st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))))
def test_plain_printable_text_is_shown_unchanged(value: str) -> None:
    assert literal(value).plain == value
