"""``shoa dev``, everything a newcomer needs in one command, and how the other commands find its database.

``shoa dev`` keeps everything in one data folder (``.shoa/`` in the working directory unless ``--data-dir``
says otherwise): PostgreSQL's data, Redis's append-only file, the generated secret key and the sockets (see
:mod:`shoa_api.runtime`). On the first start it migrates, seeds the demo catalog and issues a demo partner key,
with progress shown; once the API answers it prints the URLs, the key and how to reach the data.

The database commands (``shoa malls``, ``seed``, ``search reindex``, ``migrate``) find the same folder by
themselves: a running ``shoa dev``'s PostgreSQL is used as it is, and a stopped one's data gets a PostgreSQL
of its own for the command's duration, so no command asks the newcomer to build a URL by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis, die_with_parent, stop_process
from shoa_api.settings import SettingsError, child_environment, collect_variables, generate_secret_key, load_settings
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import uvicorn
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.keys import IssuedKey
    from shoa_api.settings import DatabaseSettings, Settings

DEFAULT_DATA_DIR = Path(".shoa")
DEMO_PRODUCTS = 20_000
"""Generated products for an empty catalog, on ``shoa dev``'s first start and by ``shoa seed``."""
DEMO_KEY_NAME = "demo key (shoa dev)"
"""The name of the partner key ``shoa dev`` issues once, for the first demo mall."""

DEV_SKILL_SECRET = "shoa-dev-skill"  # noqa: S105 - make run's own, for trying the chatbot locally
"""What ``make run`` sets as ``SHOA_SUPPORT_KAKAO_SKILL_SECRET`` unless the developer set another."""


class DevError(RuntimeError):
    """``shoa dev`` cannot start; the message says why and what to do."""


class DataFolder:
    """The data folder of ``shoa dev``: where its servers keep their data and its secret key is kept."""

    def __init__(self, root: Path) -> None:
        self.given = root
        self.root = root.resolve()
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        self.redis = EmbeddedRedis(self.root / "redis")
        self.secret_key_file = self.root / "secret_key"

    def has_database(self) -> bool:
        return (self.postgres.data_dir / "PG_VERSION").exists()

    def secret_key(self) -> str:
        """The folder's own secret key, made on first use, so sessions survive a restart of ``shoa dev``."""
        if not self.secret_key_file.exists():
            self.secret_key_file.touch(mode=0o600)
            self.secret_key_file.write_text(generate_secret_key())
        return self.secret_key_file.read_text().strip()


@contextlib.contextmanager
def dev_database(data_dir: Path, *, notice: Callable[[str], None]) -> Iterator[str]:
    """The URL of the database in ``data_dir``: its running ``shoa dev``'s PostgreSQL, or, when none runs, one
    started on the data until the ``with`` block ends (``notice`` hears which)."""
    folder = DataFolder(data_dir)
    running = folder.postgres.running_url()
    if running is not None:
        yield running
        return
    if not folder.has_database():
        msg = (
            f"SHOA_DATABASE_URL is missing, and {folder.root} holds no `shoa dev` data to use instead: start "
            "`make run` once in this folder (it creates .shoa/), pass --data-dir, or set SHOA_DATABASE_URL to a "
            "PostgreSQL URL such as postgresql+asyncpg://shoa:pw@localhost:5432/shoa"
        )
        raise SettingsError(msg)
    notice(f"no `shoa dev` is running on {folder.given}; its PostgreSQL runs for this command only")
    with folder.postgres as postgres:
        yield postgres.url


def run_dev(*, host: str, port: int, data_dir: Path, demo_products: int, worker: bool) -> None:
    """Everything a newcomer needs, in one process tree, until Ctrl-C (or SIGTERM, raised as an exception by the
    caller): the embedded servers, migrations, the demo catalog and key, the worker, the API, then the banner."""
    import uvicorn  # noqa: PLC0415 - only the commands that serve need it

    from shoa_api.app import create_app  # noqa: PLC0415
    from shoa_api.database import run_unit_of_work  # noqa: PLC0415
    from shoa_api.http_protocol import ProblemHttpToolsProtocol  # noqa: PLC0415
    from shoa_api.observability import configure_logging  # noqa: PLC0415

    console = Console(soft_wrap=True, highlight=False)
    folder = DataFolder(data_dir)
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(listening_socket(host, port))
        folder.root.mkdir(parents=True, exist_ok=True)
        with console.status(f"Starting PostgreSQL and Redis in {escape(str(folder.given))}"):
            postgres = stack.enter_context(folder.postgres)
            redis = stack.enter_context(folder.redis)
        console.print(f"[green]✓[/] PostgreSQL and Redis running, their data in {escape(str(folder.given))}")
        port = int(listener.getsockname()[1])  # the one the system chose, for --port 0
        base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        variables = dev_variables(folder, database_url=postgres.url, redis_url=redis.url, base_url=base_url)
        settings = load_settings(variables, env_file=None)
        configure_logging(settings.app)
        migrate_showing_progress(settings.database.url, console)
        asyncio.run(seed_demo_catalog(settings.database, products=demo_products, console=console))
        if settings.search.engine == "tantivy":
            asyncio.run(build_search_index(settings, console))
        asyncio.run(seed_demo_behaviour_once(settings.database, console))
        demo = asyncio.run(run_unit_of_work(settings.database, issue_demo_key))
        if worker:
            stack.callback(_stop_worker, _start_worker(variables))
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                server_header=False,
                http=ProblemHttpToolsProtocol,
            )
        )
        text = banner(base_url=base_url, folder=folder, demo=demo)
        serve_then_announce(server, [listener], lambda: console.print(text, markup=False))


def _start_worker(variables: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shoa_api", "worker"],
        env=child_environment(variables),
        start_new_session=True,  # Ctrl-C reaches only us; we stop the worker after the API
        preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - no orphan if we are killed
    )


def _stop_worker(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    stop_process(process, signal.SIGTERM, timeout, name="worker")


def dev_variables(folder: DataFolder, *, database_url: str, redis_url: str, base_url: str) -> dict[str, str]:
    """The embedded services always win; the rest keeps what the developer set, with friendly defaults."""
    return collect_variables(
        defaults={
            "SHOA_ENV": "development",
            "SHOA_LOG_FORMAT": "console",
            "SHOA_SECRET_KEY": folder.secret_key(),
            "SHOA_OAUTH_REDIRECT_BASE_URL": base_url,
            "SHOA_SEARCH_DIR": str(folder.root / "search"),
            # The chatbot's KakaoTalk skill answers requests carrying this header value (README's story uses it).
            "SHOA_SUPPORT_KAKAO_SKILL_SECRET": DEV_SKILL_SECRET,
        },
        overrides={"SHOA_DATABASE_URL": database_url, "SHOA_REDIS_URL": redis_url},
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything starts: a busy port fails in a second, not after the seeding."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        msg = (
            f"cannot listen on {host}:{port} ({exc.strerror}); another server may be there: "
            f"pick another port with `make run PORT={port + 100}` (or `shoa dev --port {port + 100}`)"
        )
        raise DevError(msg) from None
    return listener


def migrate_showing_progress(database_url: str, console: Console) -> int:
    """Upgrade to the newest migration, naming each as it runs; how many ran."""
    from shoa_api.migrate import upgrade_to_head  # noqa: PLC0415 - Alembic only where migrations run

    applied: list[str] = []
    with console.status("Migrating the database") as status:

        def on_step(step: str) -> None:
            applied.append(step)
            status.update(f"Migrating the database: {len(applied)} applied, now {step}")

        with _alembic_steps(on_step):
            upgrade_to_head(database_url)
    if applied:
        console.print(f"[green]✓[/] Database migrated: {len(applied)} migrations applied")
    else:
        console.print("[green]✓[/] Database already at the newest migration")
    return len(applied)


@contextlib.contextmanager
def _alembic_steps(on_step: Callable[[str], None]) -> Iterator[None]:
    """Alembic announces each migration it runs only as a log record (``Running upgrade a -> b, …``): for the
    duration, its informational records go to ``on_step`` (revisions only) instead of the log; warnings stay."""

    class Steps(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno > logging.INFO:
                return True
            if record.msg == "Running %s" and record.args:
                on_step(record.getMessage().removeprefix("Running ").split(",", 1)[0])
            return False

    migration_log, steps = logging.getLogger("alembic.runtime.migration"), Steps()
    level = migration_log.level
    migration_log.addFilter(steps)
    migration_log.setLevel(logging.INFO)  # heard even when SHOA_LOG_LEVEL asks for less
    try:
        yield
    finally:
        migration_log.removeFilter(steps)
        migration_log.setLevel(level)


async def seed_demo_catalog(
    database: DatabaseSettings,
    *,
    products: int,
    console: Console,
    seed: int | None = None,
    only_into_empty: bool = True,
) -> tuple[int, int]:
    """The demo malls when there are none, then ``products`` generated products -- only into an empty catalog
    unless told otherwise -- with a progress bar; how many malls and products were added."""
    from catalog.demo import seed_demo_malls  # noqa: PLC0415
    from catalog.demo_products import DEFAULT_SEED, count_products, seed_demo_products  # noqa: PLC0415
    from shoa_api.database import run_unit_of_work  # noqa: PLC0415

    malls = await run_unit_of_work(database, seed_demo_malls)
    existing = await run_unit_of_work(database, count_products)
    if only_into_empty and existing > 0:
        console.print(f"[green]✓[/] Demo catalog: kept what is there ({existing:,} products)")
        return malls, 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("products"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("Seeding the demo catalog", total=products)
        added = await run_unit_of_work(
            database,
            lambda session: seed_demo_products(
                session,
                products=products,
                seed=DEFAULT_SEED if seed is None else seed,
                progress=lambda done: bar.update(task, completed=done),
            ),
        )
    console.print(f"[green]✓[/] Demo catalog: {f'{malls} malls and ' if malls else ''}{added:,} products added")
    return malls, added


async def seed_demo_behaviour_once(database: DatabaseSettings, console: Console) -> int:
    """A month of made-up shoppers' events, counted, when the event store holds none: what the insights and the
    rankings show on the first start (``insights.demo``)."""
    from insights.demo import seed_demo_behaviour  # noqa: PLC0415
    from shoa_api.database import run_unit_of_work  # noqa: PLC0415

    with console.status("Seeding a month of demo shoppers' behaviour"):
        added = await run_unit_of_work(database, lambda session: seed_demo_behaviour(session, now=utc_now()))
    if added:
        console.print(f"[green]✓[/] Demo behaviour: {added:,} events of a month of made-up shoppers, rolled up")
    return added


async def build_search_index(settings: Settings, console: Console) -> None:
    """Index what the search outbox holds before the API starts, with a progress bar, so the first search finds
    the demo catalog; the worker keeps the index up to date from then on (as its only writer, once this one has
    closed)."""
    from catalog.search.jobs import SearchIndexing  # noqa: PLC0415
    from catalog.search.tantivy_engine import TantivyEngine  # noqa: PLC0415
    from shoa_api.database import create_engine, create_session_maker  # noqa: PLC0415

    engine = create_engine(settings.database)
    session_maker = create_session_maker(engine)
    writer = TantivyEngine(settings.search.dir)
    indexing = SearchIndexing()
    try:
        with console.status("Indexing the catalog for search") as status:
            while await indexing.run(session_maker, writer):
                status.update(f"Indexing the catalog for search: {indexing.indexed:,} products")
        console.print(f"[green]✓[/] Search index up to date ({indexing.indexed:,} products indexed now)")
    finally:
        writer.close()
        await engine.dispose()


@dataclass(frozen=True)
class DemoKey:
    mall_slug: str
    mall_name: str
    issued: IssuedKey | None
    """The key, only on the start that issued it; None afterwards (it is stored hashed and cannot be shown)."""


async def issue_demo_key(session: AsyncSession) -> DemoKey | None:
    """A key with every scope for the first demo mall, issued when that mall has none of this name yet; None
    when the database holds no such mall."""
    from catalog.demo import DEMO_MALLS  # noqa: PLC0415
    from catalog.errors import MallNotFoundError  # noqa: PLC0415
    from catalog.keys import issue_key, list_keys, mall_by_slug  # noqa: PLC0415
    from catalog.models import ApiKeyScope  # noqa: PLC0415

    try:
        mall = await mall_by_slug(session, DEMO_MALLS[0].slug)
    except MallNotFoundError:
        return None
    if any(key.name == DEMO_KEY_NAME for key in await list_keys(session, mall_id=mall.id)):
        return DemoKey(mall.slug, mall.name, None)
    issued = await issue_key(
        session, mall_id=mall.id, name=DEMO_KEY_NAME, scopes=[scope.value for scope in ApiKeyScope]
    )
    return DemoKey(mall.slug, mall.name, issued)


def serve_then_announce(server: uvicorn.Server, sockets: Sequence[socket.socket], announce: Callable[[], None]) -> None:
    """Run ``server`` on ``sockets`` until it stops, calling ``announce`` once it accepts connections."""

    async def serve() -> None:
        serving = asyncio.ensure_future(server.serve(sockets=list(sockets)))
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn sets a flag, not an event
            await asyncio.sleep(0.05)
        if server.started:
            announce()
        await serving

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(serve())


def banner(*, base_url: str, folder: DataFolder, demo: DemoKey | None) -> str:
    """What a newcomer needs once ``shoa dev`` is up, as plain text; every command can be pasted as it is."""
    shoa, data_dir = _shoa_command(), _data_dir_option(folder)
    database_url = folder.postgres.url.replace("postgresql+asyncpg://", "postgresql://")  # for libpq tools too
    lines = [
        "",
        "Shoa is ready.",
        "",
        f"  API          {base_url}",
        f"  API docs     {base_url}/schema",
        f"  Messages     {base_url}/dev/messages  (what the sandbox would have sent on AlimTalk, LINE, SMS…)",
        f"  Chatbot      {base_url}/webhooks/chat/kakao  (Kakao skill requests, header X-Shoa-Skill-Secret: "
        f"{DEV_SKILL_SECRET})",
        f"  Data folder  {folder.root}  (delete it to start afresh)",
        "",
    ]
    if demo is not None and demo.issued is not None:
        scopes = " ".join(demo.issued.scopes)
        lines += [
            f"  Demo partner key for {demo.mall_name} ({demo.mall_slug}), scopes {scopes}.",
            "  It is shown only this once and stored hashed: copy it now.",
            "",
            f"      {demo.issued.key}",
            "",
            f"  Try it:  curl -H 'Authorization: Bearer {demo.issued.key}' {base_url}/partner/v1/me",
        ]
    elif demo is not None:
        lines += [
            f"  Demo partner key for {demo.mall_name} ({demo.mall_slug}): printed on this data folder's first start",
            "  and stored hashed, so it cannot be shown again. Issue another:",
            f"      {shoa} malls keys create --mall {demo.mall_slug} --name 'my key' "
            f"--scope catalog:write --scope orders:read --scope orders:write --scope insights:read{data_dir}",
        ]
    lines += [
        "",
        f"  From another terminal in {Path.cwd()}:",
        f"    CLI        {shoa} malls keys list --mall {demo.mall_slug if demo else 'SLUG'}{data_dir}"
        "   (finds this database by itself, no variables to set)",
        f"    psql       {shlex.join(folder.postgres.psql_command())}",
        f"    redis-cli  {shlex.join(folder.redis.cli_command())}",
        f"    any tool   SHOA_DATABASE_URL={shlex.quote(database_url)}",
        "",
        "  Ctrl-C stops the API, the worker, PostgreSQL and Redis; the data stays.",
        "",
    ]
    return "\n".join(lines)


def _shoa_command() -> str:
    """How to run ``shoa`` from the working directory: on the PATH, else from the virtualenv we run in."""
    if shutil.which("shoa") is not None:
        return "shoa"
    beside = Path(sys.executable).parent / "shoa"
    if not beside.exists():
        return f"{shlex.quote(sys.executable)} -m shoa_api"
    with contextlib.suppress(ValueError):
        beside = beside.relative_to(Path.cwd())
    return shlex.quote(str(beside))


def _data_dir_option(folder: DataFolder) -> str:
    """`` --data-dir …`` for a command run from the working directory, unless the folder is its ``.shoa/``."""
    if folder.root == (Path.cwd() / DEFAULT_DATA_DIR).resolve():
        return ""
    return f" --data-dir {shlex.quote(str(folder.root))}"
