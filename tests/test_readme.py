"""The README is the operator's manual: it must name every setting and start with the two commands."""

from __future__ import annotations

from pathlib import Path

from shoa_api.settings import settings_variables

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_whether_it_is_required() -> None:
    rows = {line.split("|")[1].strip().strip("`"): line for line in README.splitlines() if line.startswith("| `SHOA_")}

    for name, _kind, required in settings_variables():
        assert name in rows, f"{name} is missing from the README's configuration table"
        assert ("| yes |" in rows[name]) == required, f"{name}: the README says otherwise about required"


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]

    assert first_block.lstrip().startswith("make run")
    assert "make test" in first_block
