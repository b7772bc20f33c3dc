"""The page an invitation link opens in a browser: how to accept it from the terminal.

The invitation secret travels in the link's fragment (`#…`), which browsers never send to
the server, so it cannot end up in access logs or proxies.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import select

from obs_support.server.models import Observatory
from obs_support.server.state import StateDep

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
h1{{color:{accent}}}code{{background:#f3f3f3;padding:.2rem .4rem;word-break:break-all}}</style>
</head><body>
<h1>{title}</h1>
<p>Has recibido una invitación al portal de soporte. Para aceptarla, instala
<code>obs-support</code> y ejecuta, con el enlace completo de tu correo:</p>
<p><code>obs-support accept-invite 'ENLACE'</code></p>
<hr>
<p lang="en">You have been invited to the support portal. To accept, install
<code>obs-support</code> and run, with the full link from your e-mail:</p>
<p><code>obs-support accept-invite 'LINK'</code></p>
</body></html>"""


@router.get("/invite", response_class=HTMLResponse)
def invitation_page(state: StateDep) -> HTMLResponse:
    with state.db.read() as session:
        observatories = session.exec(select(Observatory).limit(2)).all()
    only = observatories[0] if len(observatories) == 1 else None
    title = escape(only.name if only else "obs-support")
    accent = escape(only.accent_color if only else "#1f6feb")
    return HTMLResponse(
        _PAGE.format(title=title, accent=accent),
        headers={
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
