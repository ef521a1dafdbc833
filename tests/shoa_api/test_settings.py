"""A missing or malformed setting stops start-up with one line that names the variable."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from shoa_api.settings import Secret, SettingsError, load_settings

if TYPE_CHECKING:
    from pathlib import Path

VALID = {
    "SHOA_DATABASE_URL": "postgresql://shoa:pw@db.internal:5432/shoa",
    "SHOA_REDIS_URL": "redis://cache.internal:6379/0",
    "SHOA_SECRET_KEY": "k" * 40,
}


def test_a_complete_environment_gives_typed_settings() -> None:
    settings = load_settings(VALID | {"SHOA_DATABASE_POOL_SIZE": "25", "SHOA_ENV": "test"}, env_file=None)

    assert settings.env == "test"
    assert settings.database.pool_size == 25
    assert settings.database.url == "postgresql://shoa:pw@db.internal:5432/shoa"
    assert settings.search.engine == "tantivy"
    assert settings.app.log_format == "json"


@pytest.mark.parametrize("variable", ["SHOA_DATABASE_URL", "SHOA_REDIS_URL", "SHOA_SECRET_KEY"])
def test_a_missing_required_variable_is_named(variable: str) -> None:
    environ = {k: v for k, v in VALID.items() if k != variable}

    with pytest.raises(SettingsError) as error:
        load_settings(environ, env_file=None)

    assert str(error.value).startswith(f"{variable} is missing")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOA_DATABASE_POOL_SIZE", "ten"),
        ("SHOA_DATABASE_POOL_SIZE", "-3"),
        ("SHOA_DATABASE_ECHO", "maybe"),
        ("SHOA_ENV", "staging"),
        ("SHOA_LOG_LEVEL", "LOUD"),
        ("SHOA_SEARCH_ENGINE", "elasticsearch"),
        ("SHOA_DATABASE_URL", "mysql://shoa@db/shoa"),
        ("SHOA_REDIS_URL", "localhost:6379"),
        ("SHOA_MEILISEARCH_URL", "ftp://search.internal"),
        ("SHOA_SECRET_KEY", "too-short"),
        ("SHOA_FEED_HALF_LIFE_HOURS", "0"),
        ("SHOA_FEED_WEIGHT_LIKE", "-4"),
    ],
)
def test_a_malformed_value_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(VALID | {variable: value}, env_file=None)

    assert str(error.value).startswith(f"{variable} is malformed")


@pytest.mark.parametrize(
    "value",
    [
        "SHOA_SHIPPING_KO",
        "SHOA_SHIPPING_KO=KA01TP2301260109382045fWJtLZUIab,SHOA_SHIPPING_JA",
        "=KA01TP2301260109382045fWJtLZUIab",
        "SHOA_SHIPPING_KO=",
        "SHOA_SHIPPING_KO=KA01TP2301260109382045fWJtLZUIab,,SHOA_SHIPPING_JA=KA01TP2301260109382045fWJtLZUIac",
        "SHOA_SHIPPING_KO=KA01TP2301260109382045fWJtLZUIab,SHOA_SHIPPING_KO=KA01TP2301260109382045fWJtLZUIac",
    ],
)
def test_solapi_template_ids_that_are_not_code_id_pairs_are_refused(value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(VALID | {"SHOA_SOLAPI_TEMPLATE_IDS": value}, env_file=None)

    assert str(error.value).startswith("SHOA_SOLAPI_TEMPLATE_IDS is malformed")


def test_solapi_template_ids_map_shoas_codes_to_solapis_ids_whatever_the_spacing() -> None:
    value = " SHOA_SHIPPING_KO = KA01TP2301260109382045fWJtLZUIab ,SHOA_SHIPPING_JA=KA01TP2301260109382045fWJtLZUIac "

    settings = load_settings(VALID | {"SHOA_SOLAPI_TEMPLATE_IDS": value}, env_file=None)

    assert settings.solapi.template_ids_by_code() == {
        "SHOA_SHIPPING_KO": "KA01TP2301260109382045fWJtLZUIab",
        "SHOA_SHIPPING_JA": "KA01TP2301260109382045fWJtLZUIac",
    }


def test_alimtalk_through_solapi_needs_the_template_ids() -> None:
    solapi = {
        "SHOA_NOTIFY_PROVIDER_ALIMTALK": "solapi",
        "SHOA_SOLAPI_API_KEY": "NCSAYU7YDBXYORXC",
        "SHOA_SOLAPI_API_SECRET": "solapi-secret",
        "SHOA_SOLAPI_PF_ID": "KA01PF200323182344986oTFz9CIabcx",
        "SHOA_SOLAPI_FROM_NUMBER": "0212345678",
    }

    with pytest.raises(SettingsError, match=r"^SHOA_SOLAPI_TEMPLATE_IDS is missing"):
        load_settings(VALID | solapi, env_file=None)
    with pytest.raises(SettingsError, match=r"^SHOA_SOLAPI_TEMPLATE_IDS is missing"):
        load_settings(VALID | solapi | {"SHOA_SOLAPI_TEMPLATE_IDS": " "}, env_file=None)


def test_meilisearch_as_the_engine_needs_its_url_and_key() -> None:
    with pytest.raises(SettingsError, match=r"^SHOA_MEILISEARCH_URL is missing"):
        load_settings(VALID | {"SHOA_SEARCH_ENGINE": "meilisearch"}, env_file=None)
    with pytest.raises(SettingsError, match=r"^SHOA_MEILISEARCH_KEY is missing"):
        load_settings(
            VALID | {"SHOA_SEARCH_ENGINE": "meilisearch", "SHOA_MEILISEARCH_URL": "http://search:7700"},
            env_file=None,
        )


def test_tantivy_keeps_its_index_in_a_folder_under_shoa_unless_told() -> None:
    assert load_settings(VALID, env_file=None).search.dir == ".shoa/search"
    assert load_settings(VALID | {"SHOA_SEARCH_DIR": " "}, env_file=None).search.dir == ".shoa/search"
    chosen = load_settings(VALID | {"SHOA_SEARCH_ENGINE": "tantivy", "SHOA_SEARCH_DIR": "/var/lib/shoa/search"},
                           env_file=None)  # fmt: skip
    assert (chosen.search.engine, chosen.search.dir) == ("tantivy", "/var/lib/shoa/search")


def test_a_dotenv_file_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local development\n"
        "SHOA_DATABASE_URL=postgresql://from-file/shoa\n"
        "export SHOA_REDIS_URL='redis://from-file:6379/0'\n"
        f'SHOA_SECRET_KEY="{"f" * 40}"\n'
    )

    settings = load_settings({"SHOA_DATABASE_URL": "postgresql://from-env/shoa"}, env_file=env_file)

    assert settings.database.url == "postgresql://from-env/shoa"
    assert settings.redis.url == "redis://from-file:6379/0"
    assert settings.security.secret_key.reveal() == "f" * 40


def test_variables_without_the_prefix_are_ignored() -> None:
    settings = load_settings(VALID | {"DATABASE_URL": "mysql://elsewhere"}, env_file=None)

    assert settings.database.url == VALID["SHOA_DATABASE_URL"]


def test_secrets_never_show_in_reprs() -> None:
    settings = load_settings(VALID | {"SHOA_MEILISEARCH_KEY": "meili-master-key"}, env_file=None)

    assert "k" * 40 not in repr(settings)
    assert "meili-master-key" not in repr(settings)
    assert repr(Secret("x")) == "Secret('**********')"


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_the_cli_stops_with_one_line_naming_the_variable(command: str, tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shoa_api", command],
        env={"PATH": "/usr/bin:/bin", "SHOA_REDIS_URL": "redis://localhost:6379/0", "SHOA_SECRET_KEY": "k" * 40},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    # `migrate`, a database command, would have used a `shoa dev` data folder here, and says so on the same line.
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("shoa: configuration error: SHOA_DATABASE_URL is missing")
    assert line.endswith("a PostgreSQL URL such as postgresql+asyncpg://shoa:pw@localhost:5432/shoa")
