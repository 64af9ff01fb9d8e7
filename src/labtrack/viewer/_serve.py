"""Starting the viewer: argument parsing, the safety checks on ``--host``, uvicorn."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys
from pathlib import Path

from .auth import is_loopback

DEFAULT_PORT = 8765
DEFAULT_CACHE_MB = 1024  # decoded series kept in memory: about 44M points at 24 bytes each


def run(
    dir: str | Path | None = None,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    token: str | None = None,
    cache_mb: float = DEFAULT_CACHE_MB,
) -> None:
    """Serve the viewer over ``dir`` until interrupted (Ctrl-C). Opens no browser.

    Args:
        dir: directory to view (runs found recursively); default ``$LABTRACK_DIR`` or ``./out``.
        port: TCP port; 0 picks a free one.
        host: interface to bind. Anything but loopback warns, and requires a token: ``token``,
            else ``$LABTRACK_TOKEN``, else a random one printed with the address.
        token: access token required on every request (also honoured on loopback).
        cache_mb: memory for decoded series, in MB; past it the least recently viewed are
            dropped and read again from disk when asked for.
    """
    from labtrack._env import LABTRACK_TOKEN, default_store_dir
    from labtrack.errors import require

    require("starlette", "viewer", "The labtrack viewer")
    uvicorn = require("uvicorn", "viewer", "The labtrack viewer")
    from .app import create_app

    root = Path(dir) if dir is not None else default_store_dir()
    token = token or os.environ.get(LABTRACK_TOKEN) or None
    loopback = is_loopback(host)
    if not loopback:
        print(
            f"WARNING: the labtrack viewer listens on {host}, reachable from other machines; "
            "every request must carry the access token shown below.",
            file=sys.stderr,
        )
        if token is None:
            token = secrets.token_urlsafe(24)
    sock = listening_socket(host, port)
    app = create_app(root, token=token, loopback_only=loopback, host=host, cache_mb=cache_mb)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")  # type: ignore[attr-defined]
    server = uvicorn.Server(config)  # type: ignore[attr-defined]

    original_startup = server.startup

    async def startup(sockets: object = None) -> None:
        await original_startup(sockets=sockets)  # type: ignore[arg-type]
        bound = port
        for s in server.servers:
            for sock in s.sockets:
                bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        query = f"/?token={token}" if token else "/"
        print(f"labtrack viewer on http://{shown}:{bound}{query}  (directory {root.resolve()})")
        sys.stdout.flush()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, bound here rather than by uvicorn so that a port already
    in use is one clear error naming the port and the fix (uvicorn logs ``[Errno 98]`` and
    exits).

    Raises:
        OSError: the port is in use (``errno.EADDRINUSE``) or cannot be bound; the message
            names the port and suggests ``--port``.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is fine
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        if exc.errno == errno.EADDRINUSE:
            raise OSError(
                exc.errno,
                f"port {port} on {shown} is already in use (another labtrack ui?); "
                f"choose another with --port {port + 1}, or --port 0 for any free port",
            ) from None
        raise OSError(exc.errno, f"cannot listen on {shown}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    """``labtrack ui`` / ``python -m labtrack.viewer``: parse ``argv`` and serve."""
    parser = argparse.ArgumentParser(
        prog="labtrack ui",
        description="Serve the labtrack web viewer over a directory of runs.",
        epilog="examples:\n"
        "  labtrack ui                       # ./out (or $LABTRACK_DIR) at http://127.0.0.1:8765/\n"
        "  labtrack ui runs/ --port 9000\n"
        "  labtrack ui runs/ --host 0.0.0.0  # reachable from other machines: needs the token",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dir", nargs="?", metavar="DIR", help="directory of runs (default $LABTRACK_DIR or ./out)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--token",
        default=None,
        help="access token required on every request (default $LABTRACK_TOKEN)",
    )
    parser.add_argument(
        "--cache-mb",
        type=float,
        default=DEFAULT_CACHE_MB,
        help=f"memory for decoded series in MB (default {DEFAULT_CACHE_MB}); past it the least "
        "recently viewed are read again from disk when needed",
    )
    args = parser.parse_args(argv)
    if args.dir is not None and not Path(args.dir).is_dir():
        parser.error(f"DIR {args.dir!r} does not exist or is not a directory")
    if not args.cache_mb > 0:
        parser.error(f"--cache-mb must be a positive number of megabytes, got {args.cache_mb:g}")
    try:
        run(args.dir, port=args.port, host=args.host, token=args.token, cache_mb=args.cache_mb)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"labtrack ui: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
