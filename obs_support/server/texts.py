"""Every sentence the server writes for people (e-mails and portal pages), in both languages.

Values are `str.format` patterns; the caller passes the fields. User text is inserted by the
templates, which escape it for HTML; plain-text mail shows it as it is.
"""

from __future__ import annotations

from obs_support.domain import Language

TEXTS: dict[str, dict[Language, str]] = {
    "hello": {"es": "Hola, {name}:", "en": "Hello {name},"},
    "hello_anon": {"es": "Hola:", "en": "Hello,"},
    "open_incident": {"es": "Ver la incidencia", "en": "View the incident"},
    "footer_settings": {
        "es": "Recibes este correo por tu cuenta en {observatory}. Puedes elegir qué avisos "
        "recibir por correo con «obs-support notifications settings».",
        "en": "You receive this e-mail for your account at {observatory}. Choose which notices "
        "reach you by e-mail with 'obs-support notifications settings'.",
    },
    "footer_plain": {
        "es": "Este correo lo envía el servicio de soporte de {observatory}.",
        "en": "This e-mail is sent by the support service of {observatory}.",
    },
    # status changes
    "status_subject": {"es": "[{ref}] {new}: {summary}", "en": "[{ref}] {new}: {summary}"},
    "status_line": {
        "es": "La incidencia {ref} ha pasado de «{old}» a «{new}».",
        "en": "Incident {ref} has moved from '{old}' to '{new}'.",
    },
    "status_reason": {"es": "Motivo: {reason}", "en": "Reason: {reason}"},
    "changed_by": {"es": "Cambio hecho por {actor}.", "en": "Changed by {actor}."},
    # replies
    "reply_subject": {
        "es": "[{ref}] Nueva respuesta: {summary}",
        "en": "[{ref}] New reply: {summary}",
    },
    "reply_line": {
        "es": "{actor} ha escrito en la incidencia {ref}:",
        "en": "{actor} wrote on incident {ref}:",
    },
    # assignments
    "assigned_subject": {
        "es": "[{ref}] Asignada a ti: {summary}",
        "en": "[{ref}] Assigned to you: {summary}",
    },
    "assigned_line": {
        "es": "{actor} te ha asignado la incidencia {ref} ({type}, prioridad {priority}):",
        "en": "{actor} has assigned incident {ref} to you ({type}, priority {priority}):",
    },
    # new incidents
    "new_subject": {
        "es": "[{ref}] Nueva incidencia ({priority}): {summary}",
        "en": "[{ref}] New incident ({priority}): {summary}",
    },
    "new_line": {
        "es": "{actor} ({account}) ha abierto una incidencia de tipo {type}, prioridad {priority}:",
        "en": "{actor} ({account}) has opened a {type} incident, priority {priority}:",
    },
    # invitations
    "invite_subject": {
        "es": "Invitación al soporte de {observatory}",
        "en": "Invitation to {observatory} support",
    },
    "invite_line": {
        "es": "{inviter} te invita al portal de soporte de {observatory}. Desde él podrás abrir "
        "incidencias, adjuntar fotos, vídeos y documentos y seguir su estado.",
        "en": "{inviter} invites you to the support portal of {observatory}, where you can open "
        "incidents, attach photos, videos and documents, and follow their status.",
    },
    "invite_expiry": {
        "es": "El enlace es válido hasta el {date} y solo se puede usar una vez.",
        "en": "The link is valid until {date} and can be used once.",
    },
    "invite_action": {"es": "Aceptar la invitación", "en": "Accept the invitation"},
    # password reset
    "reset_subject": {
        "es": "Restablecer tu contraseña de {observatory}",
        "en": "Reset your {observatory} password",
    },
    "reset_line": {
        "es": "Alguien (esperamos que tú) ha pedido restablecer tu contraseña. El enlace es "
        "válido durante una hora y solo se puede usar una vez. Al usarlo se cierran tus "
        "otras sesiones.",
        "en": "Someone (we hope you) asked to reset your password. The link is valid for one "
        "hour and can be used once. Using it logs out your other sessions.",
    },
    "reset_ignore": {
        "es": "Si no lo has pedido tú, ignora este correo: tu contraseña no cambia.",
        "en": "If it was not you, ignore this e-mail: your password stays as it is.",
    },
    "reset_action": {"es": "Elegir una contraseña nueva", "en": "Choose a new password"},
    # the portal pages
    "portal_title": {"es": "Soporte de {observatory}", "en": "{observatory} support"},
    "portal_intro": {
        "es": "Aquí pides ayuda con tus telescopios: consultas, instalaciones, reparaciones, "
        "actualizaciones y visitas. Cada petición es una incidencia con toda su historia: "
        "mensajes, notas de voz, fotos, vídeos y documentos, y cada cambio de estado te llega "
        "por correo.",
        "en": "This is where you ask for help with your telescopes: questions, installations, "
        "repairs, upgrades and visits. Each request is an incident holding its whole story: "
        "messages, voice notes, photos, videos and documents, and every status change reaches "
        "you by e-mail.",
    },
    "portal_install": {"es": "1. Instala la herramienta", "en": "1. Install the tool"},
    "portal_login": {"es": "2. Inicia sesión", "en": "2. Log in"},
    "portal_use": {"es": "3. Abre tu primera incidencia", "en": "3. File your first incident"},
    "portal_tui": {
        "es": "O abre la interfaz de terminal completa con «obs-support tui».",
        "en": "Or open the full terminal interface with 'obs-support tui'.",
    },
    "portal_invited": {
        "es": "¿Te han invitado? Abre el enlace de tu correo de invitación.",
        "en": "Invited? Open the link in your invitation e-mail.",
    },
    "portal_forgot_link": {"es": "¿Olvidaste tu contraseña?", "en": "Forgot your password?"},
    "portal_contact": {"es": "Contacto: {email}", "en": "Contact: {email}"},
    "invite_heading": {
        "es": "Bienvenido al soporte de {observatory}",
        "en": "Welcome to {observatory} support",
    },
    "invite_for": {
        "es": "Crea tu acceso para {email}.",
        "en": "Create your access for {email}.",
    },
    "field_name": {"es": "Tu nombre", "en": "Your name"},
    "field_password": {
        "es": "Contraseña (al menos 10 caracteres)",
        "en": "Password (at least 10 characters)",
    },
    "field_password2": {"es": "Repite la contraseña", "en": "Repeat the password"},
    "field_language": {"es": "Idioma", "en": "Language"},
    "field_email": {"es": "Tu correo", "en": "Your e-mail"},
    "invite_submit": {"es": "Crear mi acceso", "en": "Create my access"},
    "invite_done_heading": {"es": "Ya tienes acceso", "en": "You are in"},
    "invite_done_line": {
        "es": "Tu cuenta está lista. Inicia sesión desde tu terminal con:",
        "en": "Your account is ready. Log in from your terminal with:",
    },
    "invite_invalid_heading": {
        "es": "Esta invitación no es válida",
        "en": "This invitation is not valid",
    },
    "invite_invalid_line": {
        "es": "Puede que haya caducado o que ya se haya usado. Pide una nueva a {contact}.",
        "en": "It may have expired or been used already. Ask {contact} for a new one.",
    },
    "the_observatory": {"es": "el observatorio", "en": "the observatory"},
    "error_passwords_differ": {
        "es": "Las dos contraseñas no coinciden.",
        "en": "The two passwords do not match.",
    },
    "error_csrf": {
        "es": "El formulario ha caducado. Vuelve a cargar la página e inténtalo de nuevo.",
        "en": "The form has expired. Reload the page and try again.",
    },
    "error_name": {
        "es": "Escribe tu nombre (una línea, hasta 200 caracteres).",
        "en": "Write your name (one line, up to 200 characters).",
    },
    "error_password": {
        "es": "La contraseña debe tener al menos 10 caracteres.",
        "en": "The password must be at least 10 characters long.",
    },
    "error_email": {"es": "Escribe un correo válido.", "en": "Write a valid e-mail address."},
    "error_taken": {
        "es": "Ese correo ya tiene cuenta: inicia sesión.",
        "en": "That e-mail already has an account: log in.",
    },
    "error_busy": {
        "es": "Demasiados intentos. Espera unos minutos.",
        "en": "Too many attempts. Wait a few minutes.",
    },
    "forgot_heading": {"es": "Restablecer la contraseña", "en": "Reset your password"},
    "forgot_line": {
        "es": "Escribe el correo de tu cuenta y te enviaremos un enlace válido durante una hora.",
        "en": "Write your account's e-mail and we will send you a link valid for one hour.",
    },
    "forgot_submit": {"es": "Enviar el enlace", "en": "Send the link"},
    "forgot_done": {
        "es": "Si ese correo tiene cuenta aquí, el enlace va de camino. Revisa tu bandeja.",
        "en": "If that e-mail has an account here, the link is on its way. Check your inbox.",
    },
    "reset_heading": {"es": "Elige una contraseña nueva", "en": "Choose a new password"},
    "reset_submit": {"es": "Guardar la contraseña", "en": "Save the password"},
    "reset_done": {
        "es": "Contraseña cambiada. Tus otras sesiones se han cerrado. Inicia sesión con:",
        "en": "Password changed. Your other sessions were logged out. Log in with:",
    },
    "reset_invalid_heading": {
        "es": "Este enlace no es válido",
        "en": "This link is not valid",
    },
    "reset_invalid_line": {
        "es": "Puede que haya caducado (dura una hora) o que ya se haya usado. Pide otro.",
        "en": "It may have expired (it lasts one hour) or been used already. Ask for another.",
    },
    "incident_heading": {"es": "Incidencia {ref}", "en": "Incident {ref}"},
    "incident_line": {
        "es": "Por seguridad, el portal web no muestra incidencias. Ábrela en tu terminal:",
        "en": "For safety, the web portal does not show incidents. Open it in your terminal:",
    },
    "not_found_heading": {"es": "Página no encontrada", "en": "Page not found"},
    "back_home": {"es": "Volver al inicio", "en": "Back to the start"},
}


def t(key: str, language: Language, **fields: object) -> str:
    pattern = TEXTS[key][language]
    return pattern.format(**fields) if fields else pattern
