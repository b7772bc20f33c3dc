"""What every command needs: the profile, the language, the API client, and error handling."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
import typer
from typer.core import TyperGroup

from obs_support.cli.output import fail, stderr, stdout
from obs_support.client.config import DEFAULT_PROFILE, ConfigError, ConfigStore, Profile
from obs_support.client.credentials import TokenStore
from obs_support.client.errors import ClientError

if TYPE_CHECKING:
    from obs_support.cli.i18n import Translator
    from obs_support.client.api import ObsClient
    from obs_support.client.http import HttpClient

EXIT_USAGE = 2


@dataclass
class State:
    profile: str = DEFAULT_PROFILE
    lang: str | None = None
    debug: bool = False
    _client: HttpClient | None = field(default=None, repr=False)

    @property
    def t(self) -> Translator:
        from obs_support.cli.i18n import Translator, detect_language

        return Translator(detect_language(self.lang))

    @property
    def config(self) -> ConfigStore:
        return ConfigStore()

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.config.directory, notice=lambda m: stderr.print(f"note: {m}"))

    def saved_profile(self) -> Profile | None:
        try:
            return self.config.get(self.profile)
        except ConfigError as exc:
            die(str(exc))

    def client(self) -> ObsClient:
        """The typed API client for this profile; environment variables override it, for cron."""
        from obs_support.client.api import ObsClient

        if not isinstance(self._client, ObsClient):
            if self._client is not None:
                self._client.close()
            self._client = ObsClient(*self._credentials(), language=self.t.language)
        return self._client

    def http(self) -> HttpClient:
        """The raw JSON transport (no API models loaded), for the fast scripting paths."""
        if self._client is None:
            from obs_support.client.http import HttpClient

            self._client = HttpClient(*self._credentials(), language=self.t.language)
        return self._client

    def _credentials(self) -> tuple[str, str]:
        url = os.environ.get("OBS_SUPPORT_URL") or None
        token = os.environ.get("OBS_SUPPORT_TOKEN") or None
        if not url or not token:
            saved = self.saved_profile()
            # A saved token only ever goes to the server it was issued by: never to an
            # address named in OBS_SUPPORT_URL that is not that profile's.
            if saved is not None and (url is None or url.rstrip("/") == saved.url):
                url = url or saved.url
                token = token or self.tokens.get(self.profile)
        if not url or not token:
            die(self.t("not_logged_in"), code=4)
        return url, token

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


die = fail


def print_json(value: Any) -> None:
    """Stable JSON for scripts: the objects as the API returns them, never translated."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def say(text: str) -> None:
    """A line for people on stdout, printed literally (no markup is interpreted)."""
    stdout.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)


class ErrorHandlingGroup(TyperGroup):
    """Turns every client error into one line on stderr and its documented exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # Typer's own Context
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            if isinstance(ctx.obj, State) and ctx.obj.debug:
                raise
            code = f" ({exc.code})" if exc.code else ""
            stderr.print(f"error: {exc.message}{code}", markup=False, emoji=False)
            raise typer.Exit(exc.exit_code) from None
        except (KeyboardInterrupt, typer.Abort):  # Ctrl-C, also at a prompt
            stderr.print("interrupted; nothing more was sent", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, click.exceptions.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:
            # A bug of ours must still not show a user a traceback: one line, and --debug.
            if isinstance(ctx.obj, State) and ctx.obj.debug:
                raise
            stderr.print(
                f"error: unexpected {type(exc).__name__}: {exc} "
                "(this is a bug; run again with --debug for details)",
                markup=False,
                emoji=False,
            )
            raise typer.Exit(1) from None
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()
