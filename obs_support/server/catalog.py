"""The API's refusals in both languages: an id per message, a `str.format` pattern per language.

Read by `messages.Msg`. Spanish uses the product's words (incidencia, estado, cuenta de
cliente…) and «» quotes; English keeps the API names of values, so scripts that read the
English text see what they always did.
"""

from __future__ import annotations

from obs_support.domain import Language

MESSAGES: dict[str, dict[Language, str]] = {
    # --- how a refusal is put together --------------------------------------------------
    "field_problem": {"es": "{field}: {problem}", "en": "{field}: {problem}"},
    "alternatives": {"es": "{first} o {last}", "en": "{first} or {last}"},
    # --- titles (RFC 9457 `title`, one per status) --------------------------------------
    "title_400": {"es": "Petición incorrecta", "en": "Bad request"},
    "title_401": {"es": "No autenticado", "en": "Unauthorized"},
    "title_403": {"es": "No permitido", "en": "Forbidden"},
    "title_404": {"es": "No encontrado", "en": "Not found"},
    "title_405": {"es": "Método no permitido", "en": "Method not allowed"},
    "title_409": {"es": "Conflicto", "en": "Conflict"},
    "title_413": {"es": "Contenido demasiado grande", "en": "Payload too large"},
    "title_415": {"es": "Tipo de contenido no admitido", "en": "Unsupported media type"},
    "title_422": {"es": "Datos no válidos", "en": "Invalid input"},
    "title_429": {"es": "Demasiadas peticiones", "en": "Too many requests"},
    "title_500": {"es": "Error interno del servidor", "en": "Internal server error"},
    "title_503": {"es": "Servicio no disponible", "en": "Service unavailable"},
    "title_507": {"es": "Almacenamiento insuficiente", "en": "Insufficient storage"},
    "title_other": {"es": "Error", "en": "Error"},
    # --- the server itself ----------------------------------------------------------------
    "route_not_found": {"es": "no encontrado", "en": "not found"},
    "method_not_allowed": {"es": "método no permitido", "en": "Method Not Allowed"},
    "disk_full": {
        "es": "el disco del servidor está lleno; no se ha guardado nada, avisa a la administración",
        "en": "the server's disk is full; nothing was saved, tell the administrator",
    },
    "database_busy": {
        "es": "la base de datos está ocupada; no se ha guardado nada, inténtalo de nuevo "
        "en un momento",
        "en": "the database is busy; nothing was saved, retry shortly",
    },
    "database_error": {
        "es": "la base de datos ha rechazado la petición; no se ha guardado nada",
        "en": "the database refused the request; nothing was saved",
    },
    "internal_error": {
        "es": "se ha producido un error inesperado; no se ha guardado nada",
        "en": "an unexpected error occurred; nothing was saved",
    },
    "body_too_large": {
        "es": "el cuerpo de la petición supera {mib} MiB",
        "en": "the request body is over {mib} MiB",
    },
    "idempotency_key_reused": {
        "es": "esta Idempotency-Key ya se usó para otra petición distinta",
        "en": "this Idempotency-Key was already used for a different request",
    },
    # --- authentication -------------------------------------------------------------------
    "unauthenticated": {
        "es": "hace falta autenticarse: envía «Authorization: Bearer <token>»",
        "en": "authentication required: send 'Authorization: Bearer <token>'",
    },
    "invalid_token": {
        "es": "el token no es válido; vuelve a iniciar sesión",
        "en": "the token is not valid; log in again",
    },
    "too_many_attempts": {
        "es": "demasiados intentos fallidos; inténtalo de nuevo más tarde",
        "en": "too many failed attempts; try again later",
    },
    "invalid_credentials": {
        "es": "correo o contraseña incorrectos",
        "en": "wrong e-mail or password",
    },
    "current_password_wrong": {"es": "no es correcta", "en": "is wrong"},
    "invalid_invitation": {
        "es": "esta invitación no es válida: puede que haya caducado o que ya se haya usado",
        "en": "this invitation is not valid: it may have expired or been used",
    },
    "invalid_reset": {
        "es": "este enlace para restablecer la contraseña no es válido: puede que haya "
        "caducado o que ya se haya usado",
        "en": "this reset link is not valid: it may have expired or been used",
    },
    "observatory_ambiguous": {
        "es": "este servidor aloja varios observatorios; indica cuál",
        "en": "this server hosts several observatories; say which one",
    },
    "client_invite_needs_account": {
        "es": "para invitar a un cliente hay que indicar su cuenta de cliente",
        "en": "a client invitation needs a client account",
    },
    "only_clients_have_account": {
        "es": "solo los clientes pertenecen a una cuenta de cliente",
        "en": "only clients belong to a client account",
    },
    "email_taken_invite": {
        "es": "{email} ya tiene una cuenta en este observatorio",
        "en": "{email} already has an account in this observatory",
    },
    "email_taken_accept": {
        "es": "este correo ya tiene una cuenta; inicia sesión",
        "en": "this e-mail already has an account; log in instead",
    },
    "invitation_accepted": {
        "es": "esta invitación ya se aceptó",
        "en": "this invitation was already accepted",
    },
    # --- who may do what ------------------------------------------------------------------
    "staff_only": {
        "es": "solo el personal del observatorio puede {action}",
        "en": "only observatory staff may {action}",
    },
    "admin_only": {
        "es": "solo un administrador puede {action}",
        "en": "only an administrator may {action}",
    },
    "action_see_invitations": {"es": "ver las invitaciones", "en": "see invitations"},
    "action_revoke_invitations": {"es": "revocar invitaciones", "en": "revoke invitations"},
    "action_invite_people": {"es": "invitar a personas", "en": "invite people"},
    "action_invite_staff": {"es": "invitar a miembros del personal", "en": "invite staff"},
    "action_internal_notes": {"es": "escribir notas internas", "en": "write internal notes"},
    "action_update_incident": {
        "es": "cambiar la prioridad, la persona asignada o el resumen",
        "en": "change priority, assignee or summary",
    },
    "action_observatory_settings": {
        "es": "cambiar la configuración del observatorio",
        "en": "change the observatory's settings",
    },
    "action_observatory_logo": {
        "es": "cambiar el logotipo del observatorio",
        "en": "change the observatory's logo",
    },
    "action_create_accounts": {"es": "crear cuentas de cliente", "en": "create client accounts"},
    "action_rename_accounts": {
        "es": "renombrar cuentas de cliente",
        "en": "rename client accounts",
    },
    "action_register_telescopes": {"es": "registrar telescopios", "en": "register telescopes"},
    "action_change_telescopes": {"es": "modificar telescopios", "en": "change telescopes"},
    "action_change_users": {"es": "modificar a otros usuarios", "en": "change other users"},
    "no_client_account": {
        "es": "este usuario no pertenece a ninguna cuenta de cliente",
        "en": "this user belongs to no client account",
    },
    # --- things that are not there (or not in the caller's scope) ------------------------
    "incident_not_found": {"es": "incidencia no encontrada", "en": "incident not found"},
    "account_not_found": {
        "es": "cuenta de cliente no encontrada",
        "en": "client account not found",
    },
    "telescope_not_found": {"es": "telescopio no encontrado", "en": "telescope not found"},
    "user_not_found": {"es": "usuario no encontrado", "en": "user not found"},
    "invitation_not_found": {"es": "invitación no encontrada", "en": "invitation not found"},
    "token_not_found": {"es": "token no encontrado", "en": "token not found"},
    "upload_not_found": {"es": "subida no encontrada", "en": "upload not found"},
    "attachment_not_found": {"es": "adjunto no encontrado", "en": "attachment not found"},
    "logo_not_found": {"es": "logotipo no encontrado", "en": "logo not found"},
    # --- incidents ------------------------------------------------------------------------
    "status_final": {
        "es": "«{current}» es un estado final; la incidencia solo se puede reabrir",
        "en": "{current.value} is final; it can only be reopened",
    },
    "reopen_staff_only": {
        "es": "solo el personal del observatorio puede reabrir una incidencia",
        "en": "only observatory staff may reopen an incident",
    },
    "reopen_needs_reason": {
        "es": "para reabrir una incidencia hay que indicar el motivo",
        "en": "reopening an incident requires a reason",
    },
    "cannot_move": {
        "es": "no se puede pasar del estado «{current}» a «{target}»",
        "en": "cannot move from {current.value} to {target.value}",
    },
    "clients_only_cancel": {
        "es": "los clientes solo pueden cancelar sus incidencias",
        "en": "clients may only cancel their incidents",
    },
    "status_needs_reason": {
        "es": "para pasar al estado «{target}» hay que indicar el motivo",
        "en": "{target.value} requires a reason",
    },
    "unknown_telescope": {
        "es": "ese telescopio no está en esta cuenta de cliente",
        "en": "no such telescope in this client account",
    },
    "staff_name_account": {
        "es": "el personal debe indicar para qué cuenta de cliente es la incidencia",
        "en": "staff must say which client account the incident is for",
    },
    "clients_own_account": {
        "es": "los clientes solo abren incidencias para su propia cuenta",
        "en": "clients file incidents for their own account only",
    },
    "visit_date_only_visits": {
        "es": "solo las visitas llevan fecha solicitada",
        "en": "only a visit has a requested date",
    },
    "assignee_or_unassign": {
        "es": "indica assignee_id o unassign, no los dos",
        "en": "give either assignee_id or unassign, not both",
    },
    "assignee_not_staff": {
        "es": "debe ser un miembro activo del personal del observatorio",
        "en": "must be an active member of the observatory staff",
    },
    "not_printable": {"es": "debe ser texto imprimible", "en": "must be printable text"},
    "needs_timezone": {
        "es": "necesita la zona horaria, p. ej. 2026-01-31T00:00:00Z",
        "en": "needs a timezone, e.g. 2026-01-31T00:00:00Z",
    },
    "assignee_filter": {
        "es": "debe ser el id de un usuario, «me» o «none»",
        "en": "must be a user id, 'me' or 'none'",
    },
    "cursor_invalid": {
        "es": "no es un cursor de esta lista; vuelve a empezar sin él",
        "en": "is not a cursor from this list; start again without it",
    },
    "notification_cursor_invalid": {
        "es": "no es un cursor de esta lista",
        "en": "not a cursor from this list",
    },
    "mark_read_nothing": {
        "es": "indica los ids que marcar como leídos, o all: true",
        "en": "give the ids to mark read, or all: true",
    },
    "last_event_id_invalid": {
        "es": "debe ser el id de un evento de este flujo",
        "en": "must be an event id from this stream",
    },
    # --- attachments and uploads ----------------------------------------------------------
    "file_empty": {"es": "el archivo está vacío", "en": "the file is empty"},
    "file_too_large": {
        "es": "el archivo ocupa {size} bytes; este observatorio admite como máximo {limit}",
        "en": "the file is {size} bytes; this observatory accepts up to {limit}",
    },
    "no_room_for_file": {
        "es": "ahora mismo el servidor no tiene sitio para un archivo de este tamaño; avisa "
        "al personal del observatorio y vuelve a enviarlo",
        "en": "the server has no room for a file this size right now; "
        "tell the observatory's staff, then send it again",
    },
    "too_many_attachments": {
        "es": "una incidencia admite como máximo {limit} archivos",
        "en": "an incident holds at most {limit} files",
    },
    "checksum_mismatch": {
        "es": "el archivo recibido no coincide con el sha256 declarado; vuelve a enviarlo",
        "en": "the file received does not match its declared sha256; send it again",
    },
    "checksum_conflict": {
        "es": "Upload-Sha256 no coincide con el sha256 anunciado para este archivo; "
        "vuelve a enviarlo",
        "en": "Upload-Sha256 differs from the sha256 announced for this file; send it again",
    },
    "file_unavailable": {
        "es": "el archivo no está en el almacén; avisa a la administración",
        "en": "the file is missing from the store; tell the administrator",
    },
    "upload_busy": {
        "es": "otra petición está enviando esta subida",
        "en": "this upload is being sent by another request",
    },
    "offset_mismatch": {
        "es": "el servidor tiene {have} bytes de esta subida; envía a partir de ahí",
        "en": "the server has {have} bytes of this upload; send from there",
    },
    "upload_disk_full": {
        "es": "el servidor se ha quedado sin sitio para adjuntos; ha guardado {kept} de "
        "{size} bytes de {filename}: envía el resto cuando se libere espacio",
        "en": "the server has no room left for attachments; it kept {kept} of "
        "{size} bytes of {filename}: send the rest once space is freed",
    },
    "too_much_data": {
        "es": "se han recibido más bytes que el tamaño anunciado",
        "en": "more bytes than the announced size",
    },
    "no_preview_kind": {
        "es": "solo las imágenes PNG, JPEG, GIF y WebP tienen vista previa",
        "en": "only PNG, JPEG, GIF and WebP images have previews",
    },
    "no_preview_broken": {
        "es": "no se puede generar la vista previa de la imagen: {error}",
        "en": "the image cannot be previewed: {error}",
    },
    # --- the observatory's directory ------------------------------------------------------
    "name_taken": {
        "es": "el nombre «{name}» ya está en uso",
        "en": "the name {name!r} is already used",
    },
    "no_such_account": {
        "es": "no existe esa cuenta de cliente",
        "en": "no such client account",
    },
    "cannot_deactivate_self": {
        "es": "no puedes desactivar tu propia cuenta",
        "en": "you cannot deactivate your own account",
    },
    "logo_unreadable": {
        "es": "el logotipo no es una imagen PNG, JPEG o WebP legible",
        "en": "the logo is not a readable PNG, JPEG or WebP image",
    },
    "logo_size": {
        "es": "el logotipo debe medir entre {low} y {high} píxeles por lado",
        "en": "the logo must be between {low} and {high} pixels on each side",
    },
    "logo_empty": {"es": "el logotipo está vacío", "en": "the logo is empty"},
    "logo_too_large": {
        "es": "el logotipo debe ocupar como máximo {kib} KiB",
        "en": "the logo must be at most {kib} KiB",
    },
    "logo_type": {
        "es": "el logotipo debe ser una imagen PNG, JPEG o WebP",
        "en": "the logo must be a PNG, JPEG or WebP image",
    },
    # --- values refused by the domain and the schemas (domain.InvalidValue) --------------
    "unknown_type": {
        "es": "tipo de incidencia «{value}» desconocido; se espera uno de estos: {choices}",
        "en": "unknown incident type {value!r}; expected one of: {choices}",
    },
    "unknown_status": {
        "es": "estado «{value}» desconocido; se espera uno de estos: {choices}",
        "en": "unknown status {value!r}; expected one of: {choices}",
    },
    "unknown_role": {
        "es": "rol «{value}» desconocido; se espera uno de estos: {choices}",
        "en": "unknown role {value!r}; expected one of: {choices}",
    },
    "unknown_notify_kind": {
        "es": "tipo de aviso «{value}» desconocido; se espera uno de estos: {choices}",
        "en": "unknown notification kind {value!r}; expected one of: {choices}",
    },
    "priority_expected": {
        "es": "la prioridad debe ser baja, media, alta o 0, 5, 10",
        "en": "priority must be low, medium, high or 0, 5, 10",
    },
    "unknown_priority_number": {
        "es": "prioridad «{value}» desconocida; se espera 0, 5 o 10",
        "en": "unknown priority {value!r}; expected 0, 5 or 10",
    },
    "unknown_priority": {
        "es": "prioridad «{value}» desconocida; se espera baja, media, alta o 0, 5, 10",
        "en": "unknown priority {value!r}; expected low, medium, high or 0, 5, 10",
    },
    "not_a_reference": {
        "es": "«{value}» no es una referencia de incidencia",
        "en": "not an incident reference: {value!r}",
    },
    "control_characters": {
        "es": "no debe contener caracteres de control",
        "en": "must not contain control characters",
    },
    "single_line": {
        "es": "debe ser una sola línea, sin caracteres de control",
        "en": "must be a single line without control characters",
    },
    "empty": {"es": "no puede estar vacío", "en": "must not be empty"},
    "not_an_email": {
        "es": "no es una dirección de correo",
        "en": "is not an e-mail address",
    },
    "not_a_string": {"es": "debe ser texto", "en": "must be a string"},
    "priority_choices": {
        "es": "debe ser baja, media, alta o 0, 5, 10",
        "en": "must be low, medium, high or 0, 5, 10",
    },
    "moment_format": {
        "es": "debe ser una fecha y hora como 2026-01-31T12:00:00Z",
        "en": "must be a date and time such as 2026-01-31T12:00:00Z",
    },
    # --- pydantic's validation errors, by type (`v_<type>`; `_1` for a count of one) ------
    "v_invalid": {"es": "no es válido", "en": "is invalid"},
    "v_missing": {"es": "es obligatorio", "en": "is required"},
    "v_extra_forbidden": {
        "es": "no es un campo que se pueda indicar",
        "en": "is not a field you can set",
    },
    "v_json_invalid": {
        "es": "el cuerpo de la petición no es JSON válido",
        "en": "the body is not valid JSON",
    },
    "v_json_type": {
        "es": "la entrada JSON debe ser texto o bytes",
        "en": "JSON input should be string, bytes or bytearray",
    },
    "v_enum": {"es": "debe ser {expected}", "en": "Input should be {expected}"},
    "v_string_type": {"es": "debe ser texto", "en": "Input should be a valid string"},
    "v_string_unicode": {
        "es": "debe ser texto; los datos no son Unicode válido",
        "en": "Input should be a valid string, unable to parse raw data as a unicode string",
    },
    "v_string_too_short_1": {
        "es": "debe tener al menos {min_length} carácter",
        "en": "String should have at least {min_length} character",
    },
    "v_string_too_short": {
        "es": "debe tener al menos {min_length} caracteres",
        "en": "String should have at least {min_length} characters",
    },
    "v_string_too_long_1": {
        "es": "debe tener como máximo {max_length} carácter",
        "en": "String should have at most {max_length} character",
    },
    "v_string_too_long": {
        "es": "debe tener como máximo {max_length} caracteres",
        "en": "String should have at most {max_length} characters",
    },
    "v_string_pattern_mismatch": {
        "es": "debe seguir el patrón «{pattern}»",
        "en": "String should match pattern '{pattern}'",
    },
    "v_int_type": {"es": "debe ser un número entero", "en": "Input should be a valid integer"},
    "v_int_parsing": {
        "es": "debe ser un número entero; el texto no es un número",
        "en": "Input should be a valid integer, unable to parse string as an integer",
    },
    "v_int_from_float": {
        "es": "debe ser un número entero, sin decimales",
        "en": "Input should be a valid integer, got a number with a fractional part",
    },
    "v_int_parsing_size": {
        "es": "el número es demasiado grande",
        "en": "Unable to parse input string as an integer, exceeded maximum size",
    },
    "v_greater_than": {"es": "debe ser mayor que {gt}", "en": "Input should be greater than {gt}"},
    "v_greater_than_equal": {
        "es": "debe ser mayor o igual que {ge}",
        "en": "Input should be greater than or equal to {ge}",
    },
    "v_less_than": {"es": "debe ser menor que {lt}", "en": "Input should be less than {lt}"},
    "v_less_than_equal": {
        "es": "debe ser menor o igual que {le}",
        "en": "Input should be less than or equal to {le}",
    },
    "v_bool_type": {
        "es": "debe ser un booleano (true o false)",
        "en": "Input should be a valid boolean",
    },
    "v_bool_parsing": {
        "es": "debe ser un booleano (true o false); no se reconoce el valor",
        "en": "Input should be a valid boolean, unable to interpret input",
    },
    "v_date_type": {"es": "debe ser una fecha válida", "en": "Input should be a valid date"},
    "v_date_parsing": {
        "es": "debe ser una fecha válida con el formato AAAA-MM-DD: {error}",
        "en": "Input should be a valid date in the format YYYY-MM-DD, {error}",
    },
    "v_date_from_datetime_parsing": {
        "es": "debe ser una fecha válida: {error}",
        "en": "Input should be a valid date or datetime, {error}",
    },
    "v_date_from_datetime_inexact": {
        "es": "una fecha no puede llevar hora: debe ser un día exacto",
        "en": "Datetimes provided to dates should have zero time - e.g. be exact dates",
    },
    "v_datetime_type": {
        "es": "debe ser una fecha y hora válida",
        "en": "Input should be a valid datetime",
    },
    "v_datetime_parsing": {
        "es": "debe ser una fecha y hora válida: {error}",
        "en": "Input should be a valid datetime, {error}",
    },
    "v_datetime_from_date_parsing": {
        "es": "debe ser una fecha y hora válida: {error}",
        "en": "Input should be a valid datetime or date, {error}",
    },
    "v_timezone_aware": {
        "es": "debe indicar la zona horaria",
        "en": "Input should have timezone info",
    },
    "v_timezone_naive": {
        "es": "no debe indicar zona horaria",
        "en": "Input should not have timezone info",
    },
    "v_uuid_type": {
        "es": "el UUID debe ser texto, bytes o un objeto UUID",
        "en": "UUID input should be a string, bytes or UUID object",
    },
    "v_uuid_parsing": {
        "es": "debe ser un UUID válido: {error}",
        "en": "Input should be a valid UUID, {error}",
    },
    "v_url_type": {
        "es": "la URL debe ser texto o una URL",
        "en": "URL input should be a string or URL",
    },
    "v_url_parsing": {
        "es": "debe ser una URL válida: {error}",
        "en": "Input should be a valid URL, {error}",
    },
    "v_list_type": {"es": "debe ser una lista", "en": "Input should be a valid list"},
    "v_dict_type": {"es": "debe ser un objeto JSON", "en": "Input should be a valid dictionary"},
    "v_model_type": {
        "es": "debe ser un objeto JSON ({class_name})",
        "en": "Input should be a valid dictionary or instance of {class_name}",
    },
    "v_model_attributes_type": {
        "es": "debe ser un objeto JSON con sus campos",
        "en": "Input should be a valid dictionary or object to extract fields from",
    },
    "v_too_short_1": {
        "es": "{field_type} debe tener al menos {min_length} elemento, no {actual_length}",
        "en": "{field_type} should have at least {min_length} item after validation, "
        "not {actual_length}",
    },
    "v_too_short": {
        "es": "{field_type} debe tener al menos {min_length} elementos, no {actual_length}",
        "en": "{field_type} should have at least {min_length} items after validation, "
        "not {actual_length}",
    },
    "v_too_long_1": {
        "es": "{field_type} debe tener como máximo {max_length} elemento, no {actual_length}",
        "en": "{field_type} should have at most {max_length} item after validation, "
        "not {actual_length}",
    },
    "v_too_long": {
        "es": "{field_type} debe tener como máximo {max_length} elementos, no {actual_length}",
        "en": "{field_type} should have at most {max_length} items after validation, "
        "not {actual_length}",
    },
    "kind_list": {"es": "la lista", "en": "List"},
    "kind_dictionary": {"es": "el objeto", "en": "Dictionary"},
    # Why a date or time could not be read (pydantic's `{error}` for dates and times).
    "time_too_short": {"es": "el texto es demasiado corto", "en": "input is too short"},
    "time_extra_characters": {
        "es": "sobran caracteres al final",
        "en": "unexpected extra characters at the end of the input",
    },
    "time_year_character": {
        "es": "hay un carácter no válido en el año",
        "en": "invalid character in year",
    },
    "time_month_character": {
        "es": "hay un carácter no válido en el mes",
        "en": "invalid character in month",
    },
    "time_day_character": {
        "es": "hay un carácter no válido en el día",
        "en": "invalid character in day",
    },
    "time_hour_character": {
        "es": "hay un carácter no válido en la hora",
        "en": "invalid character in hour",
    },
    "time_minute_character": {
        "es": "hay un carácter no válido en los minutos",
        "en": "invalid character in minute",
    },
    "time_second_character": {
        "es": "hay un carácter no válido en los segundos",
        "en": "invalid character in second",
    },
    "time_fraction_character": {
        "es": "hay un carácter no válido en la fracción de segundo",
        "en": "invalid character in second fraction",
    },
    "time_date_separator": {
        "es": "el separador de la fecha no es válido; se espera «-»",
        "en": "invalid date separator, expected `-`",
    },
    "time_time_separator": {
        "es": "el separador de la hora no es válido; se espera «:»",
        "en": "invalid time separator, expected `:`",
    },
    "time_datetime_separator": {
        "es": "el separador entre fecha y hora no es válido; se espera «T», «t», «_» o un espacio",
        "en": "invalid datetime separator, expected `T`, `t`, `_` or space",
    },
    "time_month_range": {
        "es": "el mes debe estar entre 1 y 12",
        "en": "month value is outside expected range of 1-12",
    },
    "time_day_range": {
        "es": "el día no existe en ese mes",
        "en": "day value is outside expected range",
    },
    "time_hour_range": {
        "es": "la hora debe estar entre 0 y 23",
        "en": "hour value is outside expected range of 0-23",
    },
    "time_minute_range": {
        "es": "los minutos deben estar entre 0 y 59",
        "en": "minute value is outside expected range of 0-59",
    },
    "time_second_range": {
        "es": "los segundos deben estar entre 0 y 59",
        "en": "second value is outside expected range of 0-59",
    },
    "time_fraction_too_long": {
        "es": "la fracción de segundo tiene más de 6 cifras",
        "en": "second fraction value is more than 6 digits long",
    },
    "time_fraction_missing": {
        "es": "faltan las cifras de la fracción de segundo después de «.»",
        "en": "second fraction digits missing after `.`",
    },
    "time_zone_sign": {
        "es": "el signo de la zona horaria no es válido",
        "en": "invalid timezone sign",
    },
    "time_zone_hour": {
        "es": "la hora de la zona horaria no es válida",
        "en": "invalid timezone hour",
    },
    "time_zone_minute": {
        "es": "los minutos de la zona horaria no son válidos",
        "en": "invalid timezone minute",
    },
    "time_zone_minute_range": {
        "es": "los minutos de la zona horaria deben estar entre 0 y 59",
        "en": "timezone minute value is outside expected range of 0-59",
    },
    "time_zone_offset": {
        "es": "la diferencia horaria debe ser menor de 24 horas",
        "en": "timezone offset must be less than 24 hours",
    },
}
