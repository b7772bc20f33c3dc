"""`observatory branding` — the name, logo, colour and contact the portal, e-mails and TUI show."""

from __future__ import annotations

from pathlib import Path

import typer

from obs_support.cli.context import die, print_json, say, state

app = typer.Typer(help="Your observatory's settings (admin).", no_args_is_help=True)

LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


@app.command()
def branding(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="The name clients see."),
    logo: Path | None = typer.Option(
        None, "--logo", help="A PNG, JPEG or WebP image (16–2048 px a side, at most 512 KiB)."
    ),
    accent: str | None = typer.Option(None, "--accent", help="The accent colour, '#RRGGBB'."),
    support_email: str | None = typer.Option(
        None, "--support-email", help="Where clients can write; replies to e-mails go there."
    ),
    language: str | None = typer.Option(
        None, "--language", help="es or en: for people who have not chosen one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Show the branding, or change it (admin).

    Example: obs-support observatory branding --name "Observatorio del Teide" --accent '#0b5394'
    """
    from obs_support import schemas
    from obs_support.cli.incident_cmd import _model

    st = state(ctx)
    client = st.client()
    changes = {
        key: value
        for key, value in (
            ("name", name),
            ("accent_color", accent),
            ("support_email", support_email),
            ("default_language", language),
        )
        if value is not None
    }
    data: bytes | None = None
    if logo is not None:
        kind = LOGO_TYPES.get(logo.suffix.lower())
        try:
            data = logo.read_bytes()
        except OSError as exc:
            die(f"--logo: cannot read {logo}: {exc.strerror or exc}", code=2)
        if kind is None:
            die("--logo: use a .png, .jpg or .webp image", code=2)
    # Check everything before changing anything: a bad colour must not leave a new logo.
    body = _model(schemas.ObservatoryUpdate, **changes) if changes else None
    result = client.observatory()
    if data is not None and logo is not None:
        result = client.set_logo(data, LOGO_TYPES[logo.suffix.lower()])
    if body is not None:
        result = client.update_observatory(body)
    if as_json:
        print_json(result)
        return
    t = st.t
    say(f"{result.name} ({result.slug})")
    for key, value in (
        ("brand_accent", result.accent_color),
        ("brand_logo", t("yes" if result.has_logo else "no")),
        ("brand_contact", result.support_email or "—"),
        ("brand_language", result.default_language),
    ):
        say(f"  {t(key) + ':':<10} {value}")
    if changes or data is not None:
        say(st.t("branding_saved"))
