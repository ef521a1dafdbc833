"""The import directions of DESIGN.md, checked on every module's syntax tree, for every package there is.

The packages are found on disk (every top-level folder with an ``__init__.py``), so a new one cannot slip past:
it fails here until it has a rule below and is named in pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "shoa_kernel"
DOMAINS = {
    # DESIGN.md's table, for the domains that exist.
    "accounts": set(),
    "catalog": set(),
    # The event store and its aggregates: who (accounts' segments) did what with which product (the catalog).
    "insights": {"accounts", "catalog"},
    # Behaviour events are appended to the store as they are accepted.
    "personalization": {"accounts", "catalog", "insights"},
    # The shared messaging module: fed events by any service, it imports none of them (the app hands it a
    # recipient lookup built from accounts). Only shoa_api imports it today.
    "notify": set(),
    # Carts, checkout, payments and fulfilment: stock and prices from the catalog, every step through notify.
    # Purchases are events too: appended to the store when a mall-order is paid.
    "orders": {"accounts", "catalog", "notify", "insights"},
    # The customer-service chatbot: answers from the orders, acts through the orders service, replies via notify.
    "support": {"accounts", "catalog", "orders", "notify"},
    # Win-back (decision 0041): restock alerts on the catalog's variants, price drops on personalization's likes,
    # reminders of orders' cart lines, consents from accounts, purchases from the event store, sent through notify.
    "winback": {"accounts", "catalog", "personalization", "orders", "notify", "insights"},
}
"""Which other domains each domain may import."""
SHIPPED = {KERNEL, *DOMAINS, "shoa_api", "migrations"}
"""The packages the project installs (pyproject's ``packages.find``); ``tests`` and ``bench`` are not."""
MAY_IMPORT: dict[str, set[str]] = {
    # The shared kernel (the error base, the clock) sits under everything and imports none of it.
    KERNEL: set(),
    **{domain: {KERNEL, *others} for domain, others in DOMAINS.items()},
    # The web layer wires every domain together.
    "shoa_api": {KERNEL, *DOMAINS, "migrations", "litestar"},
    # Revisions are snapshots and the environment is handed what it needs: no application code at all.
    "migrations": set(),
    "tests": {"*"},
    "bench": {"*"},
}
"""What each package may import, among the packages (and Litestar); every other import is its own business."""
GUARDED = {*SHIPPED, "tests", "bench", "litestar"}
MUTATING_METHODS = {"add", "append", "clear", "extend", "insert", "pop", "popitem", "put", "remove", "setdefault",
                    "update"}  # fmt: skip


def _packages() -> list[str]:
    return sorted(path.parent.name for path in ROOT.glob("*/__init__.py") if not path.parent.name.startswith("."))


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def test_every_package_has_a_rule() -> None:
    assert set(_packages()) == set(MAY_IMPORT)


def test_pyproject_installs_and_type_checks_every_package() -> None:
    tools = _pyproject()["tool"]
    assert isinstance(tools, dict)
    included = tools["setuptools"]["packages"]["find"]["include"]
    checked = tools["mypy"]["packages"]

    assert {pattern.removesuffix("*") for pattern in included} == SHIPPED
    assert set(checked) == set(_packages())


def test_the_image_copies_every_package_it_installs() -> None:
    """No Docker engine runs here: read the Dockerfile, so a new package cannot be left out of the image (orders
    once was, and the image would not have imported the app)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    placeholders = re.search(r"for package in ([\w ]+); do", dockerfile)
    assert placeholders is not None
    assert set(placeholders.group(1).split()) == SHIPPED
    assert set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE)) == SHIPPED


@pytest.mark.parametrize("package", [p for p in _packages() if "*" not in MAY_IMPORT.get(p, set())])
def test_each_package_imports_only_what_design_allows(package: str) -> None:
    forbidden = GUARDED - MAY_IMPORT[package] - {package}
    offenders = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in _modules(package)
        if (found := _imported_packages(path) & forbidden)
    }

    assert offenders == {}


def test_routes_import_no_other_route() -> None:
    """A route needing what another holds means that thing belongs in a domain or a shared module."""
    found: dict[str, list[str]] = {}
    for path in _modules("shoa_api/routes"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        if routes := sorted(m for m in modules if m.startswith("shoa_api.routes")):
            found[str(path.relative_to(ROOT))] = routes

    assert found == {}


def _mutated_module_state(path: Path) -> list[str]:
    """Module-level names bound to a dict, list or set (or a call making one) that the module's code changes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    containers: set[str] = set()
    for statement in tree.body:
        target, value = None, None
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign):
            target, value = statement.target, statement.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Dict | ast.List | ast.Set | ast.Call):
            containers.add(target.id)
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            changed.update(node.names)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store | ast.Del)
            and isinstance(node.value, ast.Name)
        ):
            changed.add(node.value.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATING_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            changed.add(node.func.value.id)
    return sorted(containers & changed)


def test_domains_keep_no_mutable_state_at_module_level() -> None:
    """Caches and registries hang on an object the app or the worker creates: two apps in one process share
    nothing, and every test starts afresh."""
    found = {
        str(path.relative_to(ROOT)): names
        for package in [KERNEL, *DOMAINS]
        for path in _modules(package)
        if (names := _mutated_module_state(path))
    }

    assert found == {}


def test_no_module_outside_settings_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for package in sorted(SHIPPED)
        for path in _modules(package)
        if path.name != "settings.py" and ("os.environ" in (text := path.read_text()) or "getenv" in text)
    ]

    assert readers == []


def test_no_grab_bag_modules() -> None:
    grab_bags = [
        str(path.relative_to(ROOT))
        for package in _packages()
        for path in _modules(package)
        if path.stem in {"utils", "helpers", "manager", "misc", "common"}
    ]

    assert grab_bags == []
