"""``litelab serve``: the web app on this machine (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from litelab.cli.common import float_value, int_value
from litelab.errors import LitelabError

DEFAULT_RUNS = "runs"
DEFAULT_PORT = 8000


def add_parsers(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "serve", help="local web app: runs, comparisons, classify photos (Keras/TFLite)"
    )
    p.add_argument("--runs", help=f"runs folder to show (default {DEFAULT_RUNS}/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int_value, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument(
        "--max-upload-mb",
        type=float_value,
        default=10.0,
        help="largest photo accepted (default 10)",
    )
    p.add_argument(
        "--max-megapixels",
        type=float_value,
        default=40.0,
        help="largest photo in pixels, checked before decoding (default 40)",
    )
    p.add_argument("--quiet", action="store_true", help="no request log")


def cmd_serve(args: argparse.Namespace) -> int:
    runs = Path(args.runs or DEFAULT_RUNS)
    if runs.exists() and not runs.is_dir():
        raise LitelabError(f"--runs {runs} is a file, not a folder")
    if args.runs is not None and not runs.exists():
        raise LitelabError(f"runs folder not found: {runs}")
    if not 0 <= args.port <= 65535:
        raise LitelabError(f"--port must be 0..65535, got {args.port}")
    if not args.max_upload_mb > 0 or not args.max_megapixels > 0:
        raise LitelabError("--max-upload-mb and --max-megapixels must be greater than 0")
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]

    import uvicorn

    from litelab.serve.app import create_app

    app = create_app(
        runs,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=int(args.max_megapixels * 1_000_000),
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"litelab serve: {runs.resolve()} at http://{shown}:{port}/  (Ctrl-C stops)")
    if not _is_loopback(host):
        print(
            f"note: bound to {host}: other machines on your network can reach this server",
            file=sys.stderr,
        )
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        log_level="warning" if args.quiet else "info",
        access_log=not args.quiet,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LitelabError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == 98:  # EADDRINUSE
            raise LitelabError(
                f"port {port} on {host} is already in use; pick another with --port"
            ) from None
        raise LitelabError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


COMMANDS = {"serve": cmd_serve}
