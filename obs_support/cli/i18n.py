"""Human output in Spanish or English. JSON output is never translated.

The language comes from `--lang`, else from the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`:
`es_*` → Spanish), else English.
"""

from __future__ import annotations

import enum
import os
from datetime import UTC, datetime

from obs_support import domain
from obs_support.domain import Language

_MESSAGES: dict[str, dict[Language, str]] = {
    "created": {"es": "Incidencia {ref} creada.", "en": "Created incident {ref}."},
    "commented": {"es": "Comentario añadido a {ref}.", "en": "Comment added to {ref}."},
    "noted": {"es": "Nota interna añadida a {ref}.", "en": "Internal note added to {ref}."},
    "status_set": {"es": "{ref}: {old} → {new}.", "en": "{ref}: {old} → {new}."},
    "status_same": {
        "es": "{ref} ya está {new}; nada que cambiar.",
        "en": "{ref} is already {new}; nothing to change.",
    },
    "assigned": {"es": "{ref} asignada a {who}.", "en": "{ref} assigned to {who}."},
    "unassigned": {"es": "{ref} sin asignar.", "en": "{ref} is now unassigned."},
    "priority_set": {"es": "{ref}: prioridad {new}.", "en": "{ref}: priority {new}."},
    "logged_in": {
        "es": "Sesión iniciada como {name} ({role}) en {obs}.",
        "en": "Logged in as {name} ({role}) at {obs}.",
    },
    "logged_out": {"es": "Sesión cerrada ({profile}).", "en": "Logged out ({profile})."},
    "not_logged_in": {
        "es": "no has iniciado sesión; ejecuta: obs-support login URL",
        "en": "not logged in; run: obs-support login URL",
    },
    "empty_message": {
        "es": "mensaje vacío; no se ha enviado nada",
        "en": "empty message; nothing was sent",
    },
    "editor_hint": {
        "es": "# Describe la incidencia. Las líneas que empiezan por # se ignoran.",
        "en": "# Describe the incident. Lines starting with # are ignored.",
    },
    "editor_hint_comment": {
        "es": "# Escribe tu comentario. Las líneas que empiezan por # se ignoran.",
        "en": "# Write your comment. Lines starting with # are ignored.",
    },
    "attached": {"es": "{name} adjuntado a {ref}.", "en": "{name} attached to {ref}."},
    "more": {"es": "Hay más: usa --all o --limit.", "en": "There are more: use --all or --limit."},
    "none_found": {"es": "No hay incidencias.", "en": "No incidents."},
    "bulk_summary": {
        "es": "{changed} cambiadas, {unchanged} sin cambios, {refused} rechazadas, "
        "{not_found} no encontradas{dry}",
        "en": "{changed} changed, {unchanged} unchanged, {refused} refused, "
        "{not_found} not found{dry}",
    },
    "dry": {"es": " (simulación: nada se ha guardado)", "en": " (dry run: nothing was saved)"},
    "invited": {
        "es": "Invitación para {email} ({role}) enviada por correo. El enlace, por si hace "
        "falta darlo en mano:",
        "en": "Invitation for {email} ({role}) sent by e-mail. The link, should you need to "
        "hand it over yourself:",
    },
    "revoked": {"es": "Token {id} revocado.", "en": "Token {id} revoked."},
    "deactivated": {
        "es": "{email} desactivado; sus tokens ya no sirven.",
        "en": "{email} deactivated; their tokens no longer work.",
    },
    "added": {"es": "{what} «{name}» creado.", "en": "{what} '{name}' added."},
    "col_ref": {"es": "Ref.", "en": "Ref"},
    "col_priority": {"es": "Prioridad", "en": "Priority"},
    "col_type": {"es": "Tipo", "en": "Type"},
    "col_status": {"es": "Estado", "en": "Status"},
    "col_telescope": {"es": "Telescopio", "en": "Telescope"},
    "col_account": {"es": "Cliente", "en": "Client"},
    "col_summary": {"es": "Resumen", "en": "Summary"},
    "col_assignee": {"es": "Asignada a", "en": "Assignee"},
    "col_updated": {"es": "Actualizada", "en": "Updated"},
    "col_name": {"es": "Nombre", "en": "Name"},
    "col_email": {"es": "Correo", "en": "E-mail"},
    "col_role": {"es": "Rol", "en": "Role"},
    "col_active": {"es": "Activo", "en": "Active"},
    "col_model": {"es": "Modelo", "en": "Model"},
    "col_mount": {"es": "Montura", "en": "Mount"},
    "col_location": {"es": "Ubicación", "en": "Location"},
    "col_created": {"es": "Creado", "en": "Created"},
    "col_last_used": {"es": "Último uso", "en": "Last used"},
    "created_by": {"es": "Creada por {who} · {when}", "en": "Filed by {who} · {when}"},
    "ev_created": {"es": "abrió la incidencia", "en": "filed the incident"},
    "ev_comment": {"es": "comentó", "en": "commented"},
    "ev_voice": {"es": "comentó (voz)", "en": "commented (voice)"},
    "ev_internal": {"es": "nota interna", "en": "internal note"},
    "ev_status": {"es": "cambió el estado: {old} → {new}", "en": "changed status: {old} → {new}"},
    "ev_reason": {"es": "motivo", "en": "reason"},
    "ev_priority": {
        "es": "cambió la prioridad: {old} → {new}",
        "en": "changed priority: {old} → {new}",
    },
    "ev_assigned": {"es": "asignó a {who}", "en": "assigned to {who}"},
    "ev_unassigned": {"es": "quitó la asignación", "en": "unassigned"},
    "ev_summary": {"es": "cambió el resumen", "en": "changed the summary"},
    "ev_attachment": {"es": "adjuntó {name}", "en": "attached {name}"},
    "nobody": {"es": "nadie", "en": "nobody"},
    "yes": {"es": "sí", "en": "yes"},
    "no": {"es": "no", "en": "no"},
    "never": {"es": "nunca", "en": "never"},
    "ago": {"es": "hace {n}", "en": "{n} ago"},
    "just_now": {"es": "ahora", "en": "just now"},
    "telescope_history": {"es": "Historial de incidencias", "en": "Incident history"},
    "col_when": {"es": "Cuándo", "en": "When"},
    "col_kind": {"es": "Aviso", "en": "Notice"},
    "col_incident": {"es": "Incidencia", "en": "Incident"},
    "col_by": {"es": "Por", "en": "By"},
    "col_email_on": {"es": "Por correo", "en": "By e-mail"},
    "unread_count": {"es": "{n} sin leer.", "en": "{n} unread."},
    "no_notifications": {"es": "No hay avisos.", "en": "No notifications."},
    "marked_read": {
        "es": "{n} marcados como leídos; quedan {left} sin leer.",
        "en": "{n} marked read; {left} left unread.",
    },
    "settings_saved": {"es": "Preferencias guardadas.", "en": "Settings saved."},
    "watching": {
        "es": "Siguiendo {what} en directo (Ctrl-C para salir)…",
        "en": "Watching {what} live (Ctrl-C to stop)…",
    },
    "watch_all": {"es": "todas tus incidencias", "en": "all your incidents"},
    "reconnecting": {
        "es": "conexión perdida; reconectando…",
        "en": "connection lost; reconnecting…",
    },
    "transcribing": {"es": "Transcribiendo…", "en": "Transcribing…"},
    "record_hint": {
        "es": "Enter o Ctrl-C para terminar",
        "en": "Enter or Ctrl-C to stop",
    },
    "recording_saved": {
        "es": "Grabación de {seconds} s guardada en {path}",
        "en": "Recorded {seconds} s, kept in {path}",
    },
    "transcript_is": {"es": "Transcripción:", "en": "Transcript:"},
    "accept_edit_discard": {
        "es": "[a]ceptar, [e]ditar o [d]escartar",
        "en": "[a]ccept, [e]dit or [d]iscard",
    },
    "discarded": {
        "es": "Descartado: no se ha enviado nada (la grabación sigue en {path}).",
        "en": "Discarded: nothing was sent (the recording is still in {path}).",
    },
    "nothing_heard": {
        "es": "no se ha entendido ninguna palabra; no se envía nada (la grabación está en {path})",
        "en": "no words were heard; nothing is sent (the recording is in {path})",
    },
    "brand_accent": {"es": "color", "en": "accent"},
    "brand_logo": {"es": "logotipo", "en": "logo"},
    "brand_contact": {"es": "contacto", "en": "contact"},
    "brand_language": {"es": "idioma", "en": "language"},
    "internal_no_files": {
        "es": "una nota interna no lleva archivos ni grabación: los clientes podrían abrirlos; "
        "adjúntalos sin --internal",
        "en": "an internal note carries no files or recording: clients could open them; attach "
        "them without --internal",
    },
    "tui_login_title": {"es": "Iniciar sesión", "en": "Log in"},
    "tui_login_url": {"es": "Dirección del servidor", "en": "Server address"},
    "tui_login_password": {"es": "Contraseña", "en": "Password"},
    "tui_login_button": {"es": "Entrar", "en": "Log in"},
    "tui_login_observatory": {
        "es": "Código del observatorio (si el servidor aloja varios)",
        "en": "Observatory code (if the server hosts several)",
    },
    "tui_login_bad_url": {
        "es": "La dirección debe empezar por https:// o http://",
        "en": "The address must start with https:// or http://",
    },
    "tui_search": {
        "es": "Buscar en resúmenes y comentarios (Enter)…",
        "en": "Search summaries and comments (Enter)…",
    },
    "view_all": {"es": "Todas", "en": "All"},
    "view_mine": {"es": "Mías", "en": "Mine"},
    "view_unassigned": {"es": "Sin asignar", "en": "Unassigned"},
    "view_high": {"es": "Prioridad alta", "en": "High priority"},
    "view_blocked": {"es": "Bloqueadas", "en": "Blocked"},
    "tui_new": {"es": "Incidencia nueva", "en": "New incident"},
    "tui_reply": {"es": "Responder", "en": "Reply"},
    "tui_note": {"es": "Nota interna", "en": "Internal note"},
    "tui_send": {"es": "Enviar (Ctrl-S)", "en": "Send (Ctrl-S)"},
    "tui_cancel": {"es": "Cancelar (Esc)", "en": "Cancel (Esc)"},
    "tui_status": {"es": "Cambiar el estado", "en": "Change the status"},
    "tui_reason": {"es": "Motivo (obligatorio)", "en": "Reason (required)"},
    "tui_priority": {"es": "Prioridad", "en": "Priority"},
    "tui_assign": {"es": "Asignar a", "en": "Assign to"},
    "tui_me": {"es": "A mí", "en": "Me"},
    "tui_saved": {"es": "{ref} guardada.", "en": "{ref} saved."},
    "tui_staff_only": {"es": "Solo el personal puede hacerlo.", "en": "Only staff can do that."},
    "tui_no_transitions": {
        "es": "No hay cambios de estado posibles.",
        "en": "No status change is possible.",
    },
    "key_search": {"es": "Buscar", "en": "Search"},
    "key_high": {"es": "Alta", "en": "High"},
    "key_reload": {"es": "Recargar", "en": "Reload"},
    "key_back": {"es": "Volver", "en": "Back"},
    "key_status": {"es": "Estado", "en": "Status"},
    "key_assign": {"es": "Asignar", "en": "Assign"},
    "key_quit": {"es": "Salir", "en": "Quit"},
    "key_help": {"es": "Ayuda", "en": "Help"},
    "key_new": {"es": "Nueva", "en": "New"},
    "key_filter": {"es": "Filtrar", "en": "Filter"},
    "tui_key": {"es": "tecla", "en": "key"},
    "tui_open_ref": {"es": "Abrir {ref}", "en": "Open {ref}"},
    "tui_theme": {"es": "Tema de colores", "en": "Colour theme"},
    "tui_theme_help": {
        "es": "Cambiar los colores de la aplicación",
        "en": "Change the app's colours",
    },
    "key_dashboard": {"es": "Panel", "en": "Dashboard"},
    "view_filtered": {"es": "Filtradas", "en": "Filtered"},
    "tui_dashboard": {"es": "Panel", "en": "Dashboard"},
    "tui_unfinished": {"es": "Sin terminar", "en": "Unfinished"},
    "tui_weekly": {
        "es": "Abiertas y terminadas por semana (últimas {n})",
        "en": "Filed and finished per week (last {n})",
    },
    "tui_filed": {"es": "Abiertas", "en": "Filed"},
    "tui_finished": {"es": "Terminadas", "en": "Finished"},
    "tui_total": {"es": "Total", "en": "Total"},
    "tui_new_title": {"es": "Nueva incidencia", "en": "New incident"},
    "tui_no_telescope": {"es": "(ninguno)", "en": "(none)"},
    "tui_message": {"es": "Qué ocurre", "en": "What is happening"},
    "tui_file": {"es": "Abrir la incidencia (Ctrl-S)", "en": "File it (Ctrl-S)"},
    "tui_dictate": {"es": "Dictar (Ctrl-R)", "en": "Dictate (Ctrl-R)"},
    "tui_dictate_title": {
        "es": "Dicta qué ocurre en la incidencia nueva",
        "en": "Say what is happening, for the new incident",
    },
    "tui_add_files": {"es": "Archivos (Ctrl-F)", "en": "Files (Ctrl-F)"},
    "tui_with_files": {"es": "Se adjuntará: {names}", "en": "To attach: {names}"},
    "tui_no_files_yet": {
        "es": "Sin archivos: Ctrl-F para añadir fotos, vídeos o documentos",
        "en": "No files: Ctrl-F to add photos, videos or documents",
    },
    "tui_not_attached": {
        "es": "{ref} abierta, pero {name} no se adjuntó ({reason}); adjúntalo desde la "
        "incidencia con f",
        "en": "{ref} filed, but {name} was not attached ({reason}); attach it from the incident "
        "with f",
    },
    "tui_help_title": {"es": "Teclas", "en": "Keys"},
    "tui_help": {
        "es": "Cola: ↑↓ moverse · Enter abrir · c nueva incidencia · / buscar · f filtrar "
        "(Tab entre filtros, Esc a la lista) · 1-5 vistas (todas, mías, sin asignar, alta, "
        "bloqueadas) · d panel · F5 recargar · q salir\n"
        "Incidencia: r responder · v responder por voz · n nota interna · s estado · a asignar · "
        "p prioridad · f adjuntar · Tab archivos (d descargar, o abrir, i vista previa, espacio "
        "escuchar) · Esc volver\n"
        "Ctrl-P: órdenes de la pantalla, o el número de una incidencia para abrirla",
        "en": "Queue: ↑↓ move · Enter open · c new incident · / search · f filter (Tab between "
        "filters, Esc to the list) · 1-5 views (all, mine, unassigned, high, blocked) · "
        "d dashboard · F5 reload · q quit\n"
        "Incident: r reply · v voice reply · n internal note · s status · a assign · p priority · "
        "f attach · Tab files (d download, o open, i preview, space play) · Esc back\n"
        "Ctrl-P: the screen's commands, or an incident's number to open it",
    },
    # TUI: incident files and voice
    "tui_files": {"es": "Archivos ({n})", "en": "Files ({n})"},
    "tui_col_size": {"es": "Tamaño", "en": "Size"},
    "tui_col_kind": {"es": "Tipo", "en": "Kind"},
    "tui_kind_image": {"es": "imagen", "en": "image"},
    "tui_kind_video": {"es": "vídeo", "en": "video"},
    "tui_kind_audio": {"es": "audio", "en": "audio"},
    "tui_kind_document": {"es": "documento", "en": "document"},
    "tui_kind_binary": {"es": "archivo", "en": "file"},
    "tui_kind_voice": {"es": "nota de voz", "en": "voice note"},
    "key_download": {"es": "Descargar", "en": "Download"},
    "key_open": {"es": "Abrir", "en": "Open"},
    "key_preview": {"es": "Vista previa", "en": "Preview"},
    "key_play": {"es": "Escuchar", "en": "Play"},
    "key_voice": {"es": "Voz", "en": "Voice"},
    "key_attach": {"es": "Adjuntar", "en": "Attach"},
    "tui_downloading": {"es": "Descargando {name}…", "en": "Downloading {name}…"},
    "tui_saved_to": {"es": "{name} guardado en {path}", "en": "{name} saved to {path}"},
    "tui_opened": {"es": "{name} abierto con {program}.", "en": "Opened {name} with {program}."},
    "tui_no_opener": {
        "es": "No hay ningún programa para abrir archivos: instala xdg-utils (xdg-open).",
        "en": "No program to open files with: install xdg-utils (xdg-open).",
    },
    "tui_opener_failed": {
        "es": "{program} no pudo abrir {name} (código {code}).",
        "en": "{program} could not open {name} (exit code {code}).",
    },
    "tui_no_preview": {
        "es": "{name} no es una imagen: no tiene vista previa.",
        "en": "{name} is not an image: it has no preview.",
    },
    "tui_preview_close": {"es": "Esc cierra", "en": "Esc closes"},
    "tui_not_audio": {"es": "{name} no es una grabación.", "en": "{name} is not a recording."},
    "tui_playing": {
        "es": "Sonando {name} ({seconds} s): espacio o Esc para parar.",
        "en": "Playing {name} ({seconds} s): space or Esc to stop.",
    },
    "tui_stopped": {"es": "Reproducción parada.", "en": "Playback stopped."},
    "tui_no_files": {
        "es": "Esta incidencia no tiene archivos.",
        "en": "This incident has no files.",
    },
    "tui_attach_title": {"es": "Adjuntar archivos a {ref}", "en": "Attach files to {ref}"},
    "tui_attach_hint": {
        "es": "Una o más rutas separadas por espacios (entre comillas si llevan espacios). "
        "Enter envía, Esc cancela.",
        "en": "One or more paths separated by spaces (quoted if they contain spaces). "
        "Enter sends, Esc cancels.",
    },
    "tui_attach_send": {"es": "Adjuntar (Enter)", "en": "Attach (Enter)"},
    "tui_path_none": {"es": "Escribe al menos una ruta.", "en": "Type at least one path."},
    "tui_path_quote": {
        "es": "Hay unas comillas sin cerrar.",
        "en": "A quotation mark is not closed.",
    },
    "tui_path_missing": {"es": "{path}: no existe.", "en": "{path}: no such file."},
    "tui_path_not_file": {"es": "{path}: no es un archivo.", "en": "{path}: not a file."},
    "tui_path_empty": {"es": "{path}: está vacío.", "en": "{path}: the file is empty."},
    "tui_path_unreadable": {"es": "{path}: {reason}.", "en": "{path}: {reason}."},
    "tui_voice_title": {"es": "Respuesta por voz a {ref}", "en": "Voice reply to {ref}"},
    "tui_voice_starting": {"es": "Abriendo el micrófono…", "en": "Opening the microphone…"},
    "tui_voice_hint": {
        "es": "Enter o espacio para terminar · Esc descarta",
        "en": "Enter or space to stop · Esc discards",
    },
    "tui_voice_edit": {
        "es": "Revisa el texto: Ctrl-S lo envía con la grabación, Esc lo descarta.",
        "en": "Check the text: Ctrl-S sends it with the recording, Esc discards it.",
    },
    "tui_voice_nothing": {
        "es": "No se ha entendido ninguna palabra: escribe el texto, o Esc para descartar.",
        "en": "No words were heard: type the text, or Esc to discard.",
    },
    "tui_voice_discarded": {
        "es": "Descartado: no se ha enviado nada.",
        "en": "Discarded: nothing was sent.",
    },
    "tui_empty": {"es": "El texto está vacío.", "en": "The text is empty."},
    "branding_saved": {"es": "Imagen del observatorio guardada.", "en": "Branding saved."},
    "reset_sent": {
        "es": "Si {email} tiene cuenta, le llega un enlace para elegir contraseña "
        "(válido una hora).",
        "en": "If {email} has an account, a link to choose a new password is on its way "
        "(valid one hour).",
    },
}


def detect_language(explicit: str | None = None) -> Language:
    if explicit in ("es", "en"):
        return explicit  # type: ignore[return-value]
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return "en"


class Translator:
    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, key: str, **values: object) -> str:
        return _MESSAGES[key][self.language].format(**values)

    def label(self, value: enum.Enum) -> str:
        return domain.label(value, self.language)

    def status(self, value: str) -> str:
        return self.label(domain.Status(value))

    def priority(self, value: int) -> str:
        return self.label(domain.Priority(value))

    def type(self, value: str) -> str:
        return self.label(domain.IncidentType(value))

    def age(self, when: datetime, now: datetime | None = None) -> str:
        seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
        if seconds < 60:
            return self("just_now")
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return self("ago", n=f"{seconds // size} {unit}")
        return self("just_now")  # pragma: no cover
