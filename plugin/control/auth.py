"""Who may drive the avatar: a secret token and an Origin allow-list, checked at the handshake.

The token is made on first run and kept in the user's config directory with 0600 permissions;
clients send it as ``Authorization: Bearer <token>`` or ``?token=`` (browsers cannot set headers on
a WebSocket). It is compared in constant time. The Origin check stops a web page the user happens
to visit from driving the avatar (cross-site WebSocket hijacking); programs send no Origin.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ...core.errors import InputError

TOKEN_FILE = "token"


def config_dir() -> Path:
    """The user's Marionette config directory (MARIONETTE_CONFIG_DIR overrides it)."""
    env = os.environ.get("MARIONETTE_CONFIG_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "marionette"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "marionette"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "marionette"


def token_path(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / TOKEN_FILE


MAX_TOKEN_BYTES = 4096


def load_or_create_token(path: Path | None = None) -> str:
    """Read the token, creating it (0600, 256 random bits) when absent; tighten loose permissions
    of the file itself (never of what a symlink points to). Anything that is not a token file (a
    dangling link, a directory, a device, binary data) is one InputError that says what to do."""
    path = path or token_path()
    for _ in range(3):  # another process may create it between our look and our O_EXCL
        token = _read_token_file(path, tighten=True)
        if token is not None:
            return token
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not both write a different token.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue
        except OSError as e:
            raise InputError(f"cannot create the control token file {path}: {e.strerror or e}; "
                             "pass [control] token_file = 'a writable path'") from None
        token = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        return token
    raise InputError(f"the control token file {path} keeps changing under us; check what else writes it")


def read_token(path: Path | None = None) -> str:
    """The token for a client (no creation): says how to get one when it is missing."""
    path = path or token_path()
    token = _read_token_file(path, tighten=False)
    if token is None:
        raise InputError(f"no control token at {path}; start the engine once (`marionette run`) to create it, "
                         "or pass --token")
    return token


def _read_token_file(path: Path, *, tighten: bool) -> str | None:
    """The token in ``path``; None when there is no file (nor a link) there."""
    remedy = "delete it and a new token is made on the next start"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"cannot read the control token file {path}: {e.strerror or e}") from None
    link = stat.S_ISLNK(st.st_mode)
    if link:
        try:
            st = os.stat(path)
        except OSError:
            raise InputError(f"the control token file {path} is a symlink to {os.readlink(path)!r}, which does "
                             f"not exist; remove the link (a new token is made on the next start) or point it "
                             "at a token file") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"the control token file {path} is a directory, expected a file holding the token; "
                         "remove the directory and a new token is made on the next start")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"the control token file {path} is not a regular file (a device or pipe); {remedy}")
    loose = sys.platform != "win32" and stat.S_IMODE(st.st_mode) & 0o077
    if loose and link and tighten:
        # A link may point anywhere (another user's or a system file): never chmod through it.
        raise InputError(f"the control token file {path} is a symlink to a file others can read "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 on the file it points to, "
                         "or replace the link with the file")
    try:
        fd = os.open(path, os.O_RDONLY | (0 if link else getattr(os, "O_NOFOLLOW", 0)))
    except OSError as e:
        raise InputError(f"cannot read the control token file {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as fh:
        if loose and not link and tighten:
            os.fchmod(fh.fileno(), 0o600)  # the file we opened, not whatever the path names by now
        blob = fh.read(MAX_TOKEN_BYTES + 1)
    if len(blob) > MAX_TOKEN_BYTES:
        raise InputError(f"the control token file {path} is over {MAX_TOKEN_BYTES} bytes, expected one line "
                         f"with a token; {remedy}")
    try:
        token = blob.decode("ascii").strip()
    except UnicodeDecodeError as e:
        raise InputError(f"the control token file {path} holds binary data (byte 0x{blob[e.start]:02x} at "
                         f"offset {e.start}), expected one line of text; {remedy}") from None
    if len(token) < 16 or not token.isprintable() or any(ch.isspace() for ch in token):
        raise InputError(f"the control token in {path} is {len(token)} characters"
                         f"{'' if token.isprintable() and ' ' not in token else ' with spaces or control characters'}, "
                         f"expected one word of at least 16; {remedy}")
    return token


def token_matches(expected: str, offered: str | None) -> bool:
    if offered is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), offered.encode("utf-8"))


def offered_token(path: str, headers) -> str | None:
    """The token a handshake carries: Authorization Bearer header first, then ?token= in the URL."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


@dataclass(frozen=True)
class OriginPolicy:
    """Browsers always send Origin; only the listed ones (our own pages by default) may connect."""

    allowed: frozenset[str]

    @classmethod
    def for_server(cls, host: str, ports: list[int], extra: tuple[str, ...] = ()) -> "OriginPolicy":
        hosts = {"127.0.0.1", "localhost", "[::1]", host}
        allowed = {f"{scheme}://{h}:{p}" for scheme in ("http", "https") for h in hosts for p in ports}
        return cls(frozenset(allowed | {o.rstrip("/") for o in extra}))

    def allows(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser; the token still has to match
        return origin.rstrip("/") in self.allowed


VIEW_TOKEN_CONTEXT = b"marionette: view the avatar stream"


def view_token(token: str) -> str:
    """A watch-only token derived from the control token (HMAC-SHA256): the MJPEG stream's URL
    carries it, so the URL that OBS stores in its scene file can show the avatar but not steer it.
    Stable across runs as long as the control token is, so OBS keeps working after a restart."""
    return hmac.new(token.encode("utf-8"), VIEW_TOKEN_CONTEXT, "sha256").hexdigest()[:32]


def stream_tokens(token_file: str | Path | None = None) -> tuple[str, str]:
    """(view token, control token) for the MJPEG stream, from the control token file (made when absent)."""
    token = load_or_create_token(Path(token_file) if token_file else None)
    return view_token(token), token
