"""What the workers tell the screens, in the past tense (the I/O already happened)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from obs_support import schemas


@dataclass
class LiveEventArrived(Message):
    event: schemas.LiveEvent


@dataclass
class LinkChanged(Message):
    """The live stream connected or lost its connection."""

    connected: bool


@dataclass
class RequestFailed(Message):
    message: str
