"""The letters the server sends, one function per kind, in the recipient's language."""

from __future__ import annotations

from datetime import datetime

from obs_support import domain
from obs_support.config import ServerSettings
from obs_support.domain import Language, Priority, Status
from obs_support.server.mail.letter import Letter
from obs_support.server.models import Incident, Observatory
from obs_support.server.texts import t


def _lang(value: str) -> Language:
    return "en" if value == "en" else "es"


def portal_url(settings: ServerSettings, obs: Observatory, *path: str) -> str:
    return "/".join([settings.public_url.rstrip("/"), "o", obs.slug.lower(), *path])


def _letter(
    obs: Observatory,
    language: Language,
    subject: str,
    name: str,
    *,
    paragraphs: list[str],
    footer: str,
    action: tuple[str, str] | None = None,
    quote: str | None = None,
    notes: list[str] | None = None,
) -> Letter:
    return Letter(
        subject=subject,
        language=language,
        observatory=obs.name,
        accent=obs.accent_color,
        greeting=t("hello", language, name=name) if name else t("hello_anon", language),
        paragraphs=paragraphs,
        quote=quote,
        action=action,
        notes=notes or [],
        footer=footer,
        has_logo=obs.logo is not None,
    )


def _incident_parts(
    settings: ServerSettings, obs: Observatory, incident: Incident, language: Language
) -> tuple[str, tuple[str, str], str]:
    ref = domain.incident_reference(obs.slug, incident.number)
    action = (t("open_incident", language), portal_url(settings, obs, "i", ref))
    return ref, action, t("footer_settings", language, observatory=obs.name)


def status_changed(
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    *,
    language: str,
    name: str,
    actor: str,
    old: str,
    new: str,
    reason: str | None,
) -> Letter:
    lang = _lang(language)
    ref, action, footer = _incident_parts(settings, obs, incident, lang)
    old_label, new_label = domain.label(Status(old), lang), domain.label(Status(new), lang)
    subject = t("status_subject", lang, ref=ref, new=new_label, summary=incident.summary)
    paragraphs = [t("status_line", lang, ref=ref, old=old_label, new=new_label)]
    if reason:
        paragraphs.append(t("status_reason", lang, reason=reason))
    return _letter(
        obs,
        lang,
        subject,
        name,
        paragraphs=paragraphs,
        quote=incident.summary,
        notes=[t("changed_by", lang, actor=actor)],
        action=action,
        footer=footer,
    )


def reply(
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    *,
    language: str,
    name: str,
    actor: str,
    body: str,
) -> Letter:
    lang = _lang(language)
    ref, action, footer = _incident_parts(settings, obs, incident, lang)
    subject = t("reply_subject", lang, ref=ref, summary=incident.summary)
    return _letter(
        obs,
        lang,
        subject,
        name,
        paragraphs=[t("reply_line", lang, actor=actor, ref=ref)],
        quote=body,
        action=action,
        footer=footer,
    )


def new_incident(
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    *,
    language: str,
    name: str,
    actor: str,
    account: str,
    message: str,
) -> Letter:
    lang = _lang(language)
    ref, action, footer = _incident_parts(settings, obs, incident, lang)
    priority = domain.label(Priority(incident.priority), lang)
    kind = domain.label(domain.IncidentType(incident.type), lang)
    subject = t("new_subject", lang, ref=ref, priority=priority, summary=incident.summary)
    line = t("new_line", lang, actor=actor, account=account, type=kind, priority=priority)
    return _letter(
        obs,
        lang,
        subject,
        name,
        paragraphs=[line],
        quote=message,
        action=action,
        footer=footer,
    )


def assigned(
    settings: ServerSettings,
    obs: Observatory,
    incident: Incident,
    *,
    language: str,
    name: str,
    actor: str,
) -> Letter:
    lang = _lang(language)
    ref, action, footer = _incident_parts(settings, obs, incident, lang)
    priority = domain.label(Priority(incident.priority), lang)
    kind = domain.label(domain.IncidentType(incident.type), lang)
    subject = t("assigned_subject", lang, ref=ref, summary=incident.summary)
    line = t("assigned_line", lang, actor=actor, ref=ref, type=kind, priority=priority)
    return _letter(
        obs,
        lang,
        subject,
        name,
        paragraphs=[line],
        quote=incident.summary,
        action=action,
        footer=footer,
    )


def invitation(
    obs: Observatory, *, language: str, inviter: str, link: str, expires: datetime
) -> Letter:
    lang = _lang(language)
    subject = t("invite_subject", lang, observatory=obs.name)
    return _letter(
        obs,
        lang,
        subject,
        "",
        paragraphs=[
            t("invite_line", lang, inviter=inviter, observatory=obs.name),
            t("invite_expiry", lang, date=expires.strftime("%Y-%m-%d %H:%M UTC")),
        ],
        action=(t("invite_action", lang), link),
        footer=t("footer_plain", lang, observatory=obs.name),
    )


def password_reset(obs: Observatory, *, language: str, name: str, link: str) -> Letter:
    lang = _lang(language)
    subject = t("reset_subject", lang, observatory=obs.name)
    return _letter(
        obs,
        lang,
        subject,
        name,
        paragraphs=[t("reset_line", lang)],
        notes=[t("reset_ignore", lang)],
        action=(t("reset_action", lang), link),
        footer=t("footer_plain", lang, observatory=obs.name),
    )
