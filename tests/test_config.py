"""Settings: environment variables, a TOML file, their precedence, and the database URL they yield."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leitstand.config import Settings
from leitstand.db.engine import make_engine


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEITSTAND_* variable of the surrounding shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("LEITSTAND_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_toml(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LEITSTAND_CONFIG", str(path))
    return path


def test_defaults(tmp_path):
    settings = Settings()

    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.data_dir == tmp_path / "var"
    assert settings.default_time_zone == "Europe/Berlin"


def test_environment_variables_set_values(monkeypatch, tmp_path):
    monkeypatch.setenv("LEITSTAND_PORT", "9100")
    monkeypatch.setenv("LEITSTAND_HOST", "0.0.0.0")
    monkeypatch.setenv("LEITSTAND_SMTP_STARTTLS", "true")
    monkeypatch.setenv("LEITSTAND_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("LEITSTAND_PUBLIC_URL", "https://leitstand.example")

    settings = Settings()

    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.smtp_starttls is True
    assert settings.data_dir == tmp_path / "env-data"
    assert settings.secure_cookies is True
    assert settings.relying_party_id == "leitstand.example"


def test_a_toml_file_sets_values(monkeypatch, tmp_path):
    write_toml(tmp_path / "leitstand.toml", 'port = 8200\nsmtp_host = "mail.example"\nlogin_account_alert_after = 5\n'
                                            f'data_dir = "{tmp_path / "toml-data"}"\n', monkeypatch)

    settings = Settings()

    assert settings.port == 8200
    assert settings.smtp_host == "mail.example"
    assert settings.login_account_alert_after == 5
    assert settings.data_dir == tmp_path / "toml-data"


def test_environment_beats_toml(monkeypatch, tmp_path):
    write_toml(tmp_path / "leitstand.toml", 'port = 8200\nsmtp_host = "mail.example"\n', monkeypatch)
    monkeypatch.setenv("LEITSTAND_PORT", "9300")

    settings = Settings()

    assert settings.port == 9300  # from the environment
    assert settings.smtp_host == "mail.example"  # only in the file


def test_keyword_arguments_beat_everything(monkeypatch, tmp_path):
    write_toml(tmp_path / "leitstand.toml", "port = 8200\n", monkeypatch)
    monkeypatch.setenv("LEITSTAND_PORT", "9300")

    assert Settings(port=9400).port == 9400


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("LEITSTAND_PORT", "not-a-port")

    with pytest.raises(ValueError):
        Settings()


def test_default_database_is_sqlite_under_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")

    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'leitstand.db'}"
    assert settings.is_sqlite
    engine = make_engine(settings.effective_database_url)
    try:
        assert engine.dialect.name == "sqlite"
        assert engine.url.database == str(tmp_path / "data" / "leitstand.db")
    finally:
        engine.dispose()


def test_a_relative_data_dir_is_made_absolute(tmp_path):
    settings = Settings(data_dir=Path("relative/dir"))

    assert settings.data_dir.is_absolute()
    assert settings.data_dir == tmp_path / "relative" / "dir"
    assert str(tmp_path) in settings.effective_database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://leitstand:secret@db.example:5432/leitstand",
        "postgres://leitstand@db.example/leitstand",
        "postgresql+psycopg://leitstand@db.example/leitstand",
    ],
)
def test_a_postgresql_url_selects_the_psycopg_driver(monkeypatch, url):
    monkeypatch.setenv("LEITSTAND_DATABASE_URL", url)
    settings = Settings()

    engine = make_engine(settings.effective_database_url)  # engines connect lazily: no server needed
    try:
        assert not settings.is_sqlite
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
        assert engine.url.host == "db.example"
    finally:
        engine.dispose()


def test_database_url_from_toml(monkeypatch, tmp_path):
    write_toml(tmp_path / "leitstand.toml", 'database_url = "postgresql://toml@db.example/leitstand"\n', monkeypatch)

    assert Settings().effective_database_url == "postgresql://toml@db.example/leitstand"


def test_generated_secret_key_is_kept_in_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")

    first = settings.resolved_secret_key()
    again = Settings(data_dir=tmp_path / "data").resolved_secret_key()

    assert first == again
    assert len(first) >= 40
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path / "data", secret_key="configured").resolved_secret_key() == "configured"
