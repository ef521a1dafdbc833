"""The import directions of DESIGN.md, checked on every module's syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ["catalog", "personalization", "orders", "notify"]
ALLOWED_DOMAIN_IMPORTS = {
    "catalog": set(),
    "personalization": {"catalog"},
    "orders": {"catalog", "notify"},
    "notify": set(),
}
WEB_LAYER = {"litestar", "shoa_api"}


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


@pytest.mark.parametrize("domain", [d for d in DOMAINS if (ROOT / d).is_dir()])
def test_domains_import_neither_the_web_layer_nor_domains_above_them(domain: str) -> None:
    forbidden = WEB_LAYER | (set(DOMAINS) - ALLOWED_DOMAIN_IMPORTS[domain] - {domain})
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & forbidden)
        for path in _modules(domain)
        if _imported_packages(path) & forbidden
    }

    assert offenders == {}


def test_no_module_outside_settings_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for package in ["shoa_api", *DOMAINS]
        if (ROOT / package).is_dir()
        for path in _modules(package)
        if path.name != "settings.py" and ("os.environ" in (text := path.read_text()) or "getenv" in text)
    ]

    assert readers == []


def test_no_grab_bag_modules() -> None:
    grab_bags = [
        str(path.relative_to(ROOT))
        for package in ["shoa_api", *DOMAINS]
        if (ROOT / package).is_dir()
        for path in _modules(package)
        if path.stem in {"utils", "helpers", "manager", "misc", "common"}
    ]

    assert grab_bags == []
