"""The ``shoa`` command: dev, serve, worker, migrate, seed, malls, messages, search."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import signal
import sys
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from shoa_api.settings import (
    SettingsError,
    ToolSettings,
    collect_variables,
    load_security_settings,
    load_settings,
    load_tool_settings,
)
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.keys import IssuedKey
    from shoa_api.settings import SecuritySettings

logger = logging.getLogger("shoa.cli")


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so every `finally` runs and every child is stopped."""


def main(argv: Sequence[str] | None = None) -> None:
    _ignore_warnings_nobody_can_act_on()
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        with contextlib.ExitStack() as resources:
            args.resources = resources  # what a command holds until it ends, such as a PostgreSQL it started
            handler(args)
    except SettingsError as exc:
        _fail(f"shoa: configuration error: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    except _Terminated:
        sys.exit(0)


def _ignore_warnings_nobody_can_act_on() -> None:
    """Authlib warns, as its httpx client module is imported, that it will prefer the ``httpx2`` package to
    ``httpx``. Shoa uses httpx on purpose (one HTTP client for every provider, supported by this Authlib), so
    the warning asks nothing of whoever runs ``shoa``, yet it would be the first line a newcomer reads. Only
    that message is ignored, for this process: any other warning, Authlib's included, still shows. Authlib
    puts its own "always show" filter in front of the list when ``authlib.deprecate`` is imported, so ours is
    added after that import, to come before it."""
    from authlib.deprecate import AuthlibDeprecationWarning  # noqa: PLC0415

    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoa",
        description="Shoa backend: API, worker and tools.",
        epilog="The database commands (migrate, seed, search, malls, messages, inquiries) use SHOA_DATABASE_URL when "
        "it is set; otherwise the database of `shoa dev` (`make run`) in .shoa/ here, or in --data-dir: the running "
        "one, or, when it is stopped, its data served for the command's duration.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="use the database of the `shoa dev` keeping its data here, even when SHOA_DATABASE_URL is set "
        "(default: SHOA_DATABASE_URL, else .shoa)",
    )

    dev = commands.add_parser(
        "dev", help="embedded PostgreSQL and Redis, migrations, demo data, the API and the worker, in one go"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", type=Path, default=None, help="where the embedded services keep data (.shoa)")
    dev.add_argument("--no-worker", action="store_true", help="run the API alone")
    dev.add_argument(
        "--demo-products", type=int, default=None, help="generated products for an empty catalog (default 20000)"
    )
    dev.set_defaults(handler=_dev)

    serve = commands.add_parser("serve", help="the API, for production (configured by SHOA_* variables)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's server listens on all interfaces
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (about one per core)")
    serve.add_argument(
        "--forwarded-allow-ips", default="127.0.0.1", help="proxies whose X-Forwarded-* headers are trusted"
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="the background worker; stops cleanly on SIGTERM")
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", help="upgrade the database to the newest migration", parents=[database])
    migrate.add_argument(
        "--new-revision", metavar="MESSAGE", help="write a migration for what the models changed, instead"
    )
    migrate.set_defaults(handler=_migrate)

    seed = commands.add_parser(
        "seed",
        help="the demo catalog and a month of demo shoppers' behaviour, as `shoa dev` seeds an empty database (safe "
        "to repeat); --products N adds more products",
        parents=[database],
    )
    seed.add_argument(
        "--products",
        type=int,
        default=None,
        help="add this many generated products, whatever is there (without it: 20000 into an empty catalog)",
    )
    seed.add_argument("--seed", type=int, default=None, help="random seed: the same seed, the same catalog")
    seed.set_defaults(handler=_seed)

    search = commands.add_parser("search", help="the search index").add_subparsers(required=True, metavar="COMMAND")
    reindex = search.add_parser(
        "reindex",
        help="recompute every product's search fields and queue all of them for the search index",
        parents=[database],
    )
    reindex.add_argument("--batch-size", type=int, default=1000, help="products per transaction (default 1000)")
    reindex.set_defaults(handler=_reindex_search)

    _add_mall_commands(commands, database)
    _add_message_commands(commands, database)
    _add_inquiry_commands(commands, database)
    return parser


def _add_mall_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], database: argparse.ArgumentParser
) -> None:
    malls = commands.add_parser("malls", help="partner malls and their API keys").add_subparsers(
        required=True, metavar="COMMAND"
    )
    create = malls.add_parser("create", help="register a partner mall", parents=[database])
    create.add_argument("--slug", required=True, help="URL name: lower-case letters, digits, dashes")
    create.add_argument("--name", required=True, help="the name shoppers see, e.g. 하루일상")
    create.add_argument("--description", default="")
    create.add_argument("--logo-url", default=None)
    create.set_defaults(handler=_run_database_command, command="shoa malls", action=_create_mall)

    keys = malls.add_parser("keys", help="a mall's API keys").add_subparsers(required=True, metavar="COMMAND")
    key_create = keys.add_parser("create", help="issue a key (shown once)", parents=[database])
    key_create.add_argument("--mall", required=True, help="the mall's slug")
    key_create.add_argument("--name", required=True, help="what the mall calls it, e.g. 'production sync'")
    key_create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="catalog:write, orders:read, orders:write or insights:read (repeatable)",
    )
    key_create.set_defaults(handler=_run_database_command, command="shoa malls", action=_create_key)
    key_list = keys.add_parser("list", help="a mall's keys, without the keys themselves", parents=[database])
    key_list.add_argument("--mall", required=True)
    key_list.set_defaults(handler=_run_database_command, command="shoa malls", action=_list_keys)
    key_revoke = keys.add_parser("revoke", help="stop a key at once", parents=[database])
    key_revoke.add_argument("--mall", required=True)
    key_revoke.add_argument("key_id", type=uuid.UUID)
    key_revoke.set_defaults(handler=_run_database_command, command="shoa malls", action=_revoke_key)
    key_rotate = keys.add_parser(
        "rotate", help="issue a replacement; the old key works for the overlap, then stops", parents=[database]
    )
    key_rotate.add_argument("--mall", required=True)
    key_rotate.add_argument("key_id", type=uuid.UUID)
    key_rotate.add_argument("--overlap-hours", type=float, default=24.0)
    key_rotate.set_defaults(handler=_run_database_command, command="shoa malls", action=_rotate_key)

    link = malls.add_parser(
        "insights-link",
        help="a sign-in link to the mall's insights page, for its staff: it works once, within 15 minutes",
        parents=[database],
    )
    link.add_argument("--mall", required=True, help="the mall's slug")
    link.add_argument(
        "--base-url",
        default=None,
        help="the API's public address, as the staff's browser reaches it "
        "(default: SHOA_OAUTH_REDIRECT_BASE_URL, else http://127.0.0.1:8000)",
    )
    link.set_defaults(handler=_run_database_command, command="shoa malls", action=_insights_link)


def _add_message_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], database: argparse.ArgumentParser
) -> None:
    messages = commands.add_parser("messages", help="the messaging outbox: dead letters, retries").add_subparsers(
        required=True, metavar="COMMAND"
    )
    dead = messages.add_parser("dead", help="dead-lettered messages, the latest given up first", parents=[database])
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(handler=_run_database_command, command="shoa messages", action=_dead_messages)
    retry = messages.add_parser(
        "retry", help="queue a dead or failed message again, on its channel", parents=[database]
    )
    retry.add_argument("message_id", type=uuid.UUID)
    retry.set_defaults(handler=_run_database_command, command="shoa messages", action=_retry_message)
    show = messages.add_parser("show", help="a message and every attempt and receipt of it", parents=[database])
    show.add_argument("message_id", type=uuid.UUID)
    show.set_defaults(handler=_run_database_command, command="shoa messages", action=_show_message)


def _run_database_command(args: argparse.Namespace) -> None:
    """A command's ``action`` in one transaction on the database; a domain's refusal is one line and exit 1."""
    from shoa_api.database import run_unit_of_work  # noqa: PLC0415
    from shoa_kernel.errors import DomainError  # noqa: PLC0415

    settings = _tool_settings(args)
    action: Callable[[AsyncSession, argparse.Namespace], Awaitable[str]] = args.action
    try:
        print(asyncio.run(run_unit_of_work(settings.database, lambda session: action(session, args))))  # noqa: T201
    except DomainError as exc:
        _fail(f"{args.command}: {exc.detail}")


async def _dead_messages(session: AsyncSession, args: argparse.Namespace) -> str:
    from notify.service import dead_letters  # noqa: PLC0415

    rows = [
        f"{message.id}  {message.event}  {message.channel or '-'}/{message.provider or '-'}  "
        f"attempts={message.attempts}  dead since {message.updated_at:%Y-%m-%d %H:%M}Z  {message.last_error or ''}"
        for message in await dead_letters(session, limit=args.limit)
    ]
    return "\n".join(rows) or "no dead letters"


async def _retry_message(session: AsyncSession, args: argparse.Namespace) -> str:
    from notify.service import retry  # noqa: PLC0415

    message = await retry(session, args.message_id, now=utc_now())
    return f"message {message.id} queued again on {message.channel}; the worker sends it within seconds"


async def _show_message(session: AsyncSession, args: argparse.Namespace) -> str:
    from notify.service import message_record  # noqa: PLC0415

    message = await message_record(session, args.message_id)
    lines = [
        f"message {message.id}: {message.event}, {message.status} on {message.channel or 'no channel'}",
        f"  key {message.idempotency_key}, user {message.user_id or '-'}, {message.attempts} calls, "
        f"created {message.created_at:%Y-%m-%d %H:%M:%S}Z",
    ]
    if message.last_error:
        lines.append(f"  last error: {message.last_error}")
    for attempt in message.history:
        status = f"HTTP {attempt.http_status}" if attempt.http_status is not None else "no HTTP answer"
        code = f" code {attempt.result_code}" if attempt.result_code else ""
        took = f" {attempt.latency_ms} ms" if attempt.latency_ms is not None else ""
        lines.append(
            f"  {attempt.attempted_at:%Y-%m-%d %H:%M:%S}Z  {attempt.provider}/{attempt.channel}  "
            f"{attempt.outcome}  {status}{code}{took}  {attempt.detail}".rstrip()
        )
    return "\n".join(lines)


def _add_inquiry_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], database: argparse.ArgumentParser
) -> None:
    inquiries = commands.add_parser(
        "inquiries", help="Shoa's own support queue: what the chatbot handed over that is about no order"
    ).add_subparsers(required=True, metavar="COMMAND")
    listed = inquiries.add_parser("list", help="the queue, newest first", parents=[database])
    listed.add_argument("--status", choices=("open", "answered", "closed"), default=None)
    listed.add_argument("--limit", type=int, default=50)
    listed.set_defaults(handler=_run_database_command, command="shoa inquiries", action=_list_inquiries)
    show = inquiries.add_parser("show", help="an inquiry with its conversation and replies", parents=[database])
    show.add_argument("inquiry_id", type=uuid.UUID)
    show.set_defaults(handler=_run_database_command, command="shoa inquiries", action=_show_inquiry)
    reply = inquiries.add_parser(
        "reply", help="answer the shopper on the messenger they asked on (as Shoa)", parents=[database]
    )
    reply.add_argument("inquiry_id", type=uuid.UUID)
    reply.add_argument("text")
    reply.set_defaults(handler=_run_database_command, command="shoa inquiries", action=_reply_to_inquiry)
    close = inquiries.add_parser("close", help="close an inquiry", parents=[database])
    close.add_argument("inquiry_id", type=uuid.UUID)
    close.set_defaults(handler=_run_database_command, command="shoa inquiries", action=_close_inquiry)


async def _list_inquiries(session: AsyncSession, args: argparse.Namespace) -> str:
    from support.service import inquiries  # noqa: PLC0415

    page = await inquiries(session, mall_id=None, status=args.status, after=None, limit=max(args.limit, 1))
    rows = [
        f"{found.id}  {found.status:<8}  {found.reason:<14}  {found.channel:<9}  {found.updated_at:%Y-%m-%d %H:%M}Z  "
        + next((line.text[:60] for line in reversed(found.transcript) if line.from_ == "shopper"), "")
        for found in page.items
    ]
    return "\n".join(rows) or "no inquiries"


async def _show_inquiry(session: AsyncSession, args: argparse.Namespace) -> str:
    from support.service import inquiry  # noqa: PLC0415

    found = await inquiry(session, args.inquiry_id, mall_id=None)
    lines = [f"inquiry {found.id}: {found.status}, {found.reason}, on {found.channel} ({found.locale})"]
    lines += [f"  {line.at:%m-%d %H:%M}  {line.from_:<7}  {line.text}" for line in found.transcript]
    return "\n".join(lines)


async def _reply_to_inquiry(session: AsyncSession, args: argparse.Namespace) -> str:
    from notify.rendering import Templates  # noqa: PLC0415
    from shoa_api.wiring import outbox_from  # noqa: PLC0415
    from support.service import reply  # noqa: PLC0415

    answered, _ = await reply(
        session,
        outbox_from(Templates.load()),
        inquiry_id=args.inquiry_id,
        mall_id=None,
        sender="Shoa",
        text=args.text,
        idempotency_key=None,
        now=utc_now(),
    )
    return f"inquiry {answered.id} answered; the worker sends the reply within seconds"


async def _close_inquiry(session: AsyncSession, args: argparse.Namespace) -> str:
    from support.service import close  # noqa: PLC0415

    closed = await close(session, args.inquiry_id, mall_id=None, now=utc_now())
    return f"inquiry {closed.id} closed"


async def _create_mall(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import create_mall  # noqa: PLC0415

    mall = await create_mall(
        session, slug=args.slug, name=args.name, description=args.description, logo_url=args.logo_url
    )
    return f"mall {mall.slug} created: {mall.id}"


async def _create_key(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import issue_key, mall_by_slug  # noqa: PLC0415

    mall = await mall_by_slug(session, args.mall)
    issued = await issue_key(session, mall_id=mall.id, name=args.name, scopes=args.scope)
    return _show_issued(issued, mall.slug)


async def _list_keys(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import list_keys, mall_by_slug  # noqa: PLC0415

    mall = await mall_by_slug(session, args.mall)
    rows = [
        f"{key.id}  {key.display_prefix}…  {key.name!r}  scopes={','.join(key.scopes)}  "
        f"created={key.created_at:%Y-%m-%d %H:%M}Z  last_used={_when(key.last_used_at)}  "
        f"{_key_state(key.revoked_at, key.expires_at)}"
        for key in await list_keys(session, mall_id=mall.id)
    ]
    return "\n".join(rows) or f"mall {mall.slug} has no keys"


async def _revoke_key(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import mall_by_slug, revoke_key  # noqa: PLC0415

    mall = await mall_by_slug(session, args.mall)
    await revoke_key(session, mall_id=mall.id, key_id=args.key_id, now=utc_now())
    return f"key {args.key_id} of {mall.slug} revoked"


async def _rotate_key(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import mall_by_slug, rotate_key  # noqa: PLC0415

    mall = await mall_by_slug(session, args.mall)
    overlap = datetime.timedelta(hours=args.overlap_hours)
    issued = await rotate_key(session, mall_id=mall.id, key_id=args.key_id, overlap=overlap, now=utc_now())
    retired = utc_now() + overlap
    return f"{_show_issued(issued, mall.slug)}\nthe old key {args.key_id} works until {retired:%Y-%m-%d %H:%M}Z"


async def _insights_link(session: AsyncSession, args: argparse.Namespace) -> str:
    from catalog.keys import mall_by_slug  # noqa: PLC0415
    from shoa_api.pages.sign_in import link_url, sign_in_from  # noqa: PLC0415

    sign_in = sign_in_from(_signing_settings(args))
    mall = await mall_by_slug(session, args.mall)
    base_url = args.base_url or collect_variables().get("SHOA_OAUTH_REDIRECT_BASE_URL") or "http://127.0.0.1:8000"
    token, link = sign_in.issue_link(mall.id, now=utc_now())
    return (
        f"insights page of {mall.slug} ({mall.name}), for its staff:\n\n    {link_url(base_url, token)}\n\n"
        f"It signs in once, until {link.expires_at:%Y-%m-%d %H:%M}Z (a session of 8 hours); make another when needed."
    )


def _signing_settings(args: argparse.Namespace) -> SecuritySettings:
    """The keys the API verifies with: ``SHOA_SECRET_KEY`` beside ``SHOA_DATABASE_URL``, else the `shoa dev`
    folder's own key (unless ``SHOA_SECRET_KEY`` says otherwise, as it would for `shoa dev`)."""
    from shoa_api.dev import DEFAULT_DATA_DIR, DataFolder  # noqa: PLC0415

    if args.data_dir is None and collect_variables().get("SHOA_DATABASE_URL", "").strip():
        return load_security_settings()
    folder = DataFolder(args.data_dir or DEFAULT_DATA_DIR)
    return load_security_settings(defaults={"SHOA_SECRET_KEY": folder.secret_key()})


def _show_issued(issued: IssuedKey, slug: str) -> str:
    return (
        f"key {issued.id} for {slug}, scopes {','.join(issued.scopes)}:\n\n    {issued.key}\n\n"
        "Store it now: it is shown only this once."
    )


def _when(moment: datetime.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z" if moment else "never"


def _key_state(revoked_at: datetime.datetime | None, expires_at: datetime.datetime | None) -> str:
    if revoked_at is not None:
        return f"revoked {revoked_at:%Y-%m-%d %H:%M}Z"
    if expires_at is not None:
        return f"{'expired' if expires_at <= utc_now() else 'expires'} {expires_at:%Y-%m-%d %H:%M}Z"
    return "active"


def _serve(args: argparse.Namespace) -> None:
    import uvicorn  # noqa: PLC0415 - only the commands that serve need it

    from shoa_api.http_protocol import ProblemHttpToolsProtocol  # noqa: PLC0415
    from shoa_api.observability import configure_logging  # noqa: PLC0415

    settings = load_settings()  # fail here, in one line, rather than in every server process
    configure_logging(settings.app)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again; exit 0 rather than die of it.
    with _terminate_as_exception():
        uvicorn.run(
            "shoa_api.app:create_app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            server_header=False,
            http=ProblemHttpToolsProtocol,
        )


def _worker(args: argparse.Namespace) -> None:
    from shoa_api.observability import configure_logging  # noqa: PLC0415
    from shoa_api.worker import serve_worker  # noqa: PLC0415

    settings = load_settings()
    configure_logging(settings.app)
    serve_worker(settings)


def _migrate(args: argparse.Namespace) -> None:
    from shoa_api.migrate import upgrade_to_head, write_revision  # noqa: PLC0415

    settings = _tool_settings(args)
    if args.new_revision:
        logger.info("wrote %s: review it before committing", write_revision(settings.database.url, args.new_revision))
        return
    upgrade_to_head(settings.database.url)
    logger.info("database is at the newest migration")


def _dev(args: argparse.Namespace) -> None:
    from shoa_api.dev import DEFAULT_DATA_DIR, DEMO_PRODUCTS, DevError, run_dev  # noqa: PLC0415
    from shoa_api.runtime import EmbeddedServiceError  # noqa: PLC0415

    with _terminate_as_exception():
        try:
            run_dev(
                host=args.host,
                port=args.port,
                data_dir=args.data_dir or DEFAULT_DATA_DIR,
                demo_products=DEMO_PRODUCTS if args.demo_products is None else args.demo_products,
                worker=not args.no_worker,
            )
        except (DevError, EmbeddedServiceError) as exc:
            _fail(f"shoa dev: {exc}")


def _seed(args: argparse.Namespace) -> None:
    from rich.console import Console  # noqa: PLC0415

    from shoa_api.dev import DEMO_PRODUCTS, seed_demo_behaviour_once, seed_demo_catalog  # noqa: PLC0415

    if args.products is not None and args.products < 1:
        _fail("shoa seed: --products must be at least 1")
    settings = _tool_settings(args)
    console = Console(soft_wrap=True, highlight=False)
    asyncio.run(
        seed_demo_catalog(
            settings.database,
            products=DEMO_PRODUCTS if args.products is None else args.products,
            seed=args.seed,
            console=console,
            only_into_empty=args.products is None,
        )
    )
    asyncio.run(seed_demo_behaviour_once(settings.database, console))


def _reindex_search(args: argparse.Namespace) -> None:
    from catalog.search.reindex import reindex_products  # noqa: PLC0415
    from shoa_api.database import create_engine, create_session_maker  # noqa: PLC0415

    if args.batch_size < 1:
        _fail("shoa search reindex: --batch-size must be at least 1")
    settings = _tool_settings(args)

    async def run() -> int:
        engine = create_engine(settings.database)
        try:
            return await reindex_products(
                create_session_maker(engine),
                batch_size=args.batch_size,
                progress=lambda done: logger.info("search reindex: %d products so far", done),
            )
        finally:
            await engine.dispose()

    products = asyncio.run(run())
    logger.info("search reindex: %d products queued; the worker sends them to the search index", products)


def _tool_settings(args: argparse.Namespace) -> ToolSettings:
    """A database command's settings: ``SHOA_DATABASE_URL`` when set (and no ``--data-dir``), else the database
    of a `shoa dev` data folder -- the running one, or one started on its data until the command ends."""
    from shoa_api.dev import DEFAULT_DATA_DIR, dev_database  # noqa: PLC0415
    from shoa_api.observability import configure_logging  # noqa: PLC0415

    if args.data_dir is None and collect_variables().get("SHOA_DATABASE_URL", "").strip():
        settings = load_tool_settings()
    else:
        resources: contextlib.ExitStack = args.resources
        url = resources.enter_context(dev_database(args.data_dir or DEFAULT_DATA_DIR, notice=_notice))
        settings = load_tool_settings(defaults={"SHOA_LOG_FORMAT": "console"}, overrides={"SHOA_DATABASE_URL": url})
    configure_logging(settings.app)
    return settings


def _notice(message: str) -> None:
    print(f"shoa: {message}", file=sys.stderr)  # noqa: T201 - said before the command's own output


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    def on_sigterm(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)  # noqa: T201 - the one line the operator needs
    sys.exit(2)
