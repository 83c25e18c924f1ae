"""The backup archive: one gzip'd tar, a manifest inside, a checksum file beside it.

Layout of `leitstand-backup-<UTC time>.tar.gz`:

    database/leitstand.sqlite3   (SQLite: a consistent copy made by the online backup API)
    database/leitstand.pgdump    (PostgreSQL: `pg_dump --format=custom`)
    files/attachments/...        the document store, paths relative to data_dir
    files/secret.key             kept secrets that data_dir holds (if generated there)
    manifest.json                last, so it can list the SHA-256 of everything before it

Beside it, `<archive>.sha256` holds the SHA-256 of the whole archive in `sha256sum`
format. An archive is trusted only after both checks pass: the whole-file checksum,
then every member against the manifest (`open_checked`). Nothing is restored before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

FORMAT = "leitstand-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database/leitstand.sqlite3", "postgresql": "database/leitstand.pgdump"}
FILES_PREFIX = "files/"
# What of data_dir a backup holds besides the database: the document store (a directory,
# replaced as a whole on restore) and the secrets Leitstand generates and keeps there.
# Runtime state (embedded-broker.json) and the backups themselves are left out.
STORED_DIRECTORIES = ("attachments",)
STORED_FILES = ("secret.key", "mqtt-service.secret")

NAME_PATTERN = re.compile(r"^leitstand-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz$")
CHUNK = 1024 * 1024


class ArchiveRefused(Exception):
    """The archive is missing, truncated, tampered with or not a Leitstand backup; the message says which."""


@dataclass(frozen=True)
class Member:
    path: str
    sha256: str
    size: int


@dataclass
class Manifest:
    """What a backup holds, written at backup time.

    tables: rows per table in the database copy, counted in the same snapshot.
    """

    created_at: str
    backend: str
    leitstand_version: str
    alembic_revision: str | None
    tables: dict[str, int]
    files: list[Member] = field(default_factory=list)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def database_member(self) -> str:
        return DATABASE_MEMBERS[self.backend]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ArchiveRefused("the archive is not a Leitstand backup (its manifest names another format)")
            if raw.get("format_version") != FORMAT_VERSION:
                raise ArchiveRefused(f"backup format version {raw.get('format_version')} is not supported "
                                     f"(this Leitstand reads version {FORMAT_VERSION})")
            raw["files"] = [Member(**member) for member in raw["files"]]
            manifest = cls(**raw)
        except ArchiveRefused:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ArchiveRefused(f"the archive's manifest is unreadable: {error}") from None
        if manifest.backend not in DATABASE_MEMBERS:
            raise ArchiveRefused(f"the manifest names an unknown database backend {manifest.backend!r}")
        return manifest


def checksum_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(path: Path, archive_name: str) -> Member:
    return Member(path=archive_name, sha256=file_sha256(path), size=path.stat().st_size)


def write_archive(target: Path, manifest: Manifest, members: list[tuple[str, Path]]) -> Path:
    """Pack the members and the manifest into target, then write target's checksum file.

    The archive is written under a temporary name and renamed into place last, so a
    crash never leaves a half-written file with a backup's name.
    """
    partial = target.with_name(target.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            for name, path in members:
                archive.add(path, arcname=name, recursive=False)
            info = tarfile.TarInfo(MANIFEST)
            data = manifest.to_json()
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
        partial.chmod(0o600)  # it holds password hashes and kept secrets
        checksum_path(target).write_text(f"{file_sha256(partial)}  {target.name}\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _check_whole_file(archive: Path) -> None:
    if not archive.is_file():
        raise ArchiveRefused(f"no archive at {archive}")
    sums = checksum_path(archive)
    if not sums.is_file():
        raise ArchiveRefused(f"the checksum file {sums.name} is missing; an archive without it is not trusted")
    expected = sums.read_text().split()
    if not expected or not re.fullmatch(r"[0-9a-f]{64}", expected[0]):
        raise ArchiveRefused(f"the checksum file {sums.name} holds no SHA-256")
    actual = file_sha256(archive)
    if actual != expected[0]:
        raise ArchiveRefused(f"the archive does not match its checksum file (SHA-256 {actual}, expected "
                             f"{expected[0]}): it is truncated or was changed")


def _safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveRefused(f"the archive holds an unsafe path {name!r}")
    return path


def _copy_hashing(source: IO[bytes], target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def open_checked(archive: Path, into: Path) -> Manifest:
    """Check the archive completely and unpack it into the scratch folder `into`.

    First the whole file against its checksum file, then every member against the
    manifest (SHA-256 and size; nothing missing, nothing extra). Raises ArchiveRefused.
    """
    _check_whole_file(archive)
    seen: dict[str, tuple[str, int]] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(archive, "r|gz") as stream:
            for info in stream:
                if not info.isfile():
                    raise ArchiveRefused(f"the archive holds {info.name!r}, which is not a regular file")
                if info.name in seen or (info.name == MANIFEST and manifest_bytes is not None):
                    raise ArchiveRefused(f"the archive holds {info.name!r} twice")
                handle = stream.extractfile(info)
                assert handle is not None
                if info.name == MANIFEST:
                    manifest_bytes = handle.read()
                    continue
                seen[info.name] = _copy_hashing(handle, into / _safe_member_path(info.name))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveRefused(f"the archive is truncated or damaged: {error}") from None
    if manifest_bytes is None:
        raise ArchiveRefused("the archive holds no manifest.json")
    manifest = Manifest.from_json(manifest_bytes)
    listed = {member.path: member for member in manifest.files}
    if missing := sorted(set(listed) - set(seen)):
        raise ArchiveRefused(f"files listed in the manifest are missing from the archive: {', '.join(missing[:5])}")
    if extra := sorted(set(seen) - set(listed)):
        raise ArchiveRefused(f"the archive holds files its manifest does not list: {', '.join(extra[:5])}")
    for name, (sha256, size) in seen.items():
        if (sha256, size) != (listed[name].sha256, listed[name].size):
            raise ArchiveRefused(f"{name} does not match the manifest (SHA-256 or size differs): it was changed")
    if manifest.database_member not in seen:
        raise ArchiveRefused("the archive holds no database copy")
    return manifest
