"""`doctune serve PROJECT [--config F] [--out DIR] [--host H] [--port N] [--no-browser]`: the web
app over a project (`doctune.serve.app.create_app`), run by uvicorn. On loopback it is open; on
any other address it requires the access token it prints once, as a sign-in URL."""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
import webbrowser
from pathlib import Path

import click

from doctune.commands.common import handle_errors
from doctune.foundation.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"  # bound everywhere: this machine reaches it on loopback
    return f"http://{shown}:{port}"


@click.command("serve")
@click.argument("project", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Config file (default: PROJECT/doctune.yaml).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: <project>/out).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; any but loopback requires the printed access token.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-browser", is_flag=True, help="Do not open a browser on the overview.")
@handle_errors
def serve(
    project: Path,
    config_file: Path | None,
    out_dir: Path | None,
    host: str,
    port: int,
    no_browser: bool,
) -> None:
    """Browse and review PROJECT's data, compare answers, chat and read the report, in a browser."""
    try:
        # The optional extra doctune[serve]: the rest of the CLI works without it.
        import uvicorn

        from doctune.serve.app import create_app
    except ImportError as exc:
        raise ConfigError(f"doctune serve needs {exc.name}: pip install 'doctune[serve]'") from None
    token = None if is_loopback(host) else secrets.token_urlsafe(32)
    app = create_app(project, config_file, out_dir, token)
    url = base_url(host, port)
    if token is None:
        click.echo(f"doctune serve: {url}/  (Ctrl+C to stop)")
    else:
        click.echo(f"doctune serve on {host}: sign in once at {url}/signin?token={token}")
        click.echo("(the token is required on every request; it is shown only here)")
        url = f"{url}/signin?token={token}"
    # access_log off: the sign-in URL carries the token in its query string.
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False))
    if not no_browser:
        threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
    server.run()


def _open_when_up(server: object, url: str) -> None:
    for _ in range(200):  # up to ~10 s for the socket to be bound
        if getattr(server, "started", False):
            webbrowser.open(url)
            return
        time.sleep(0.05)
