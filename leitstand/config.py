"""Settings: one object, read from `LEITSTAND_*` environment variables and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables,
the TOML file named by `LEITSTAND_CONFIG`, then the defaults below.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEITSTAND_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the SQLite database, keys and documents live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    secret_key: str = Field("", description="Encrypts stored second-factor secrets; generated into data_dir if empty.")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL users reach; its scheme decides Secure cookies.")

    session_hours: int = 12
    session_idle_minutes: int = Field(60, ge=1, description=(
        "A browser session ends after this long without activity (within its session_hours at most)."))
    reauthentication_minutes: int = Field(10, ge=1, description=(
        "How long a login or re-authentication counts as fresh for changing the password or second factors."))
    pending_login_minutes: int = 10
    new_browser_notice: bool = Field(True, description=(
        "Mail the owner when a login is completed in a browser the account was never used in before."))
    token_expiry_reminder_days: int = Field(7, ge=0, description=(
        "Mail an API token's owner this many days before the token lapses (once per token); 0 sends no reminder."))
    # Throttling (leitstand.auth.throttle): back-off for whoever keeps guessing, never a lockout.
    login_slowdown_after: int = Field(3, ge=1, description=(
        "Failed logins of one account from one client address before that address waits (2 s, 4 s … 5 min)."))
    login_address_slowdown_after: int = Field(30, ge=1, description=(
        "Failed logins from one client address, over all accounts, before that address waits."))
    login_account_alert_after: int = Field(10, ge=1, description=(
        "Failed logins of one account from all addresses before its owner is mailed (once per window) and the "
        "addresses that failed for it wait; addresses that have not failed for it are never refused."))
    login_failure_window_minutes: int = Field(15, ge=1, description=(
        "Failures (of logins and of claim secrets) are forgotten after this long without a new one."))
    claim_slowdown_after: int = Field(3, ge=1, description=(
        "Wrong claim secrets for one serial number from one tenant before that tenant waits for it."))
    claim_tenant_slowdown_after: int = Field(20, ge=1, description=(
        "Wrong claim secrets from one tenant, over all serial numbers, before the tenant waits."))
    password_reset_per_address: int = Field(3, ge=1, description=(
        "Reset mails to one e-mail address per window; further requests are answered alike but send nothing."))
    password_reset_per_client: int = Field(10, ge=1, description=(
        "Reset requests from one client address per window; further ones get 429."))
    password_reset_window_minutes: int = Field(60, ge=1, description=(
        "The reset quotas count until this long has passed without a counted request."))
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list, description=(
        "Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For is believed; "
        "empty: the direct peer is the client."))

    email_token_hours: int = 48
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Leitstand <noreply@leitstand.local>"

    webauthn_rp_id: str = ""
    webauthn_rp_name: str = "Leitstand"

    default_time_zone: str = "Europe/Berlin"
    license_term_months: int = 12

    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0,
                                      description="Largest inspection-book attachment accepted (bytes).")

    portal_tile_url: str = Field("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                 description="Map tiles of the sites map (Leaflet URL template).")
    portal_tile_attribution: str = Field("&copy; OpenStreetMap contributors",
                                         description="Attribution shown on the map for the tiles (HTML).")

    transports: Annotated[list[str], NoDecode] = Field(
        ["mqtt", "http", "lorawan"],
        description="The transports this installation runs, by name (leitstand.transports.registry).")
    mqtt_broker: Literal["embedded", "mosquitto"] = Field(
        "embedded", description="embedded: amqtt inside `leitstand serve`; mosquitto: an external Mosquitto.")
    mqtt_host: str = Field("127.0.0.1", description="Where the embedded broker listens, or where the broker is reached.")
    mqtt_port: int = 1883
    mqtt_tls_ca_file: str = Field("", description="CA bundle; if set, Leitstand's own clients connect with TLS.")
    mqtt_service_username: str = Field("leitstand", description="Leitstand's own MQTT user (ingest, commands).")
    mqtt_service_password: str = Field("", description="Generated into data_dir if empty.")
    mqtt_admin_username: str = Field("", description="Mosquitto dynamic-security admin, to manage device users.")
    mqtt_admin_password: str = ""
    mqtt_shared_group: str = Field("", description="Ingest workers share the stream via $share/{group}/ (Mosquitto).")

    telemetry_rollups: Literal["deferred", "immediate"] = Field(
        "deferred", description="PostgreSQL: deferred queues new points and rolls them up in the background every "
        "rollup_drain_seconds (far cheaper ingest; aggregates lag by that much); immediate rolls up in the ingest "
        "transaction. SQLite always rolls up immediately.")
    rollup_drain_seconds: float = Field(1.0, gt=0, description="How often queued rollups are drained (PostgreSQL).")

    # Heating defaults (H15; requirements/heating.md, open point H15): what a building's default plan holds.
    heating_default_mode: Literal["plan", "manual", "fix"] = Field(
        "plan", description="Mode of a thermostat or room that has none set.")
    heating_default_celsius: float = Field(20.0, description="The hourly target of a building's default plan.")
    heating_min_celsius: float = Field(5.0, description="Lower limit of a default plan, and with no plan at all.")
    heating_max_celsius: float = Field(30.0, description="Upper limit of a default plan, and with no plan at all.")
    heating_overrule_minutes: int = Field(120, ge=0, description=(
        "How long a default plan honours a target changed at the device itself."))
    heating_daily_downlink_budget: int = Field(0, ge=0, description=(
        "Downlinks per device per 24 h, for connections whose settings name no daily_downlink_budget; 0: no cap."))
    heating_confirm_minutes: int = Field(60, ge=1, description=(
        "A target the device has not reported back within this long raises an alarm."))
    heating_spread_seconds: int = Field(300, ge=0, description=(
        "Plan changes of many thermostats at one hour are spread over this many seconds."))

    backup_dir: Path | None = Field(None, description="Where `leitstand backup` writes archives; empty means data_dir/backups.")
    backup_every_days: int = Field(7, gt=0, description="The scheduler makes a backup when the newest is this old.")
    backup_keep: int = Field(8, gt=0, description="Backups kept in backup_dir; older ones are deleted.")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("trusted_proxies", "transports", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # The environment gives "10.0.0.0/8, 192.0.2.7" or "mqtt,http"; TOML may give a list.
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("LEITSTAND_CONFIG")
        if toml_path:
            if not Path(toml_path).is_file():
                raise FileNotFoundError(f"LEITSTAND_CONFIG names {toml_path}, which is not a readable file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'leitstand.db'}"

    @property
    def backups_path(self) -> Path:
        return (self.backup_dir or self.data_dir / "backups").expanduser().resolve()

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def relying_party_id(self) -> str:
        """WebAuthn binds keys to a host name; by default the one in public_url."""
        if self.webauthn_rp_id:
            return self.webauthn_rp_id
        from urllib.parse import urlsplit

        return urlsplit(self.public_url).hostname or "localhost"

    @property
    def origin(self) -> str:
        return self.public_url.rstrip("/")

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in data_dir so restarts can decrypt."""
        return self.secret_key or self._kept_secret("secret.key", 48)

    def resolved_mqtt_service_password(self) -> str:
        """The configured password of Leitstand's own MQTT user, or one generated once into data_dir."""
        return self.mqtt_service_password or self._kept_secret("mqtt-service.secret", 32)

    def _kept_secret(self, file_name: str, length: int) -> str:
        path = self.data_dir / file_name
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(length)
        path.write_text(value)
        path.chmod(0o600)
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
