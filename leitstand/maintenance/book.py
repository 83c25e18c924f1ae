"""Attachments of the inspection book: checked by content, stored as files, described in the DB.

A file's type is decided by its first bytes, never by its name or the client's
content type: a PNG called report.pdf is a PNG, and HTML is refused whatever it is
called. Files live under data_dir/attachments/<tenant id>/<uuid>; the database holds
the name, type, size and SHA-256 and is the only way to reach a file (through a
scoped API route).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.config import Settings
from leitstand.display_text import clean_file_name
from leitstand.i18n import Message, Refusal
from leitstand.maintenance.models import InspectionAttachment, InspectionEntry

# (signature test, media type, file extension)
_SIGNATURES: tuple[tuple[str, str, str], ...] = (
    ("pdf", "application/pdf", ".pdf"),
    ("png", "image/png", ".png"),
    ("jpeg", "image/jpeg", ".jpg"),
    ("webp", "image/webp", ".webp"),
)
ACCEPTED_TYPES = "PDF, PNG, JPEG or WebP"
WINDOWS_RESERVED = frozenset('"<>|:*?')


class AttachmentRefused(Refusal):
    """The file is not one of the accepted types or is too large; the message says which."""

    def __init__(self, text: str | Message, too_large: bool = False) -> None:
        super().__init__(text)
        self.too_large = too_large


def max_attachment_bytes(settings: Settings) -> int:
    return settings.max_attachment_bytes  # LEITSTAND_MAX_ATTACHMENT_BYTES


def sniff_media_type(data: bytes) -> str | None:
    """The media type the content itself declares, for the accepted kinds only."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _extension(media_type: str) -> str:
    return next(ext for _name, kind, ext in _SIGNATURES if kind == media_type)


def _safe_name(file_name: str, media_type: str) -> str:
    """The client's file name without a path, made to end in the real type's extension. Otherwise
    as given, in any script and with emoji; only control characters go, and the characters Windows
    refuses in a file name, so that it can be saved there and unzipped from a data export."""
    name = clean_file_name(Path(file_name.replace("\\", "/")).name)
    name = "".join(char for char in name if char not in WINDOWS_RESERVED)[:150].strip() or "attachment"
    extension = _extension(media_type)
    return name if name.lower().endswith(extension) or (extension == ".jpg" and name.lower().endswith(".jpeg")) \
        else f"{name}{extension}"


def attachments_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "attachments"


def file_path(settings: Settings, attachment: InspectionAttachment) -> Path:
    return attachments_dir(settings) / attachment.storage_key


def check_upload(data: bytes, limit: int) -> str:
    """The media type of an acceptable upload, or AttachmentRefused saying why not."""
    if len(data) > limit:
        raise AttachmentRefused(Message("The file has %(size)s bytes; at most %(limit)s are allowed.", size=len(data),
                                        limit=limit), too_large=True)
    if not data:
        raise AttachmentRefused("The file is empty.")
    media_type = sniff_media_type(data)
    if media_type is None:
        raise AttachmentRefused(Message("The file's content is not %(types)s (whatever its name says).",
                                        types=ACCEPTED_TYPES))
    return media_type


def store_attachment(db: Session, settings: Settings, entry: InspectionEntry, file_name: str, data: bytes) -> InspectionAttachment:
    media_type = check_upload(data, max_attachment_bytes(settings))
    storage_key = f"{entry.tenant_id}/{uuid.uuid4().hex}"
    target = attachments_dir(settings) / storage_key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    attachment = InspectionAttachment(
        entry_id=entry.id, device_id=entry.device_id, tenant_id=entry.tenant_id, file_name=_safe_name(file_name, media_type),
        media_type=media_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=storage_key,
    )
    db.add(attachment)
    return attachment


def read_attachment(settings: Settings, attachment: InspectionAttachment) -> bytes | None:
    """The file's bytes if present and unchanged since upload (its SHA-256 still matches)."""
    path = file_path(settings, attachment)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == attachment.sha256 else None


def remove_files(settings: Settings, attachments: list[InspectionAttachment]) -> None:
    """Delete stored files (after their rows are deleted and committed)."""
    for attachment in attachments:
        file_path(settings, attachment).unlink(missing_ok=True)


def attachments_of(db: Session, entry_ids: list[int]) -> dict[int, list[InspectionAttachment]]:
    found: dict[int, list[InspectionAttachment]] = {entry_id: [] for entry_id in entry_ids}
    if entry_ids:
        for attachment in db.scalars(select(InspectionAttachment).where(InspectionAttachment.entry_id.in_(entry_ids))
                                     .order_by(InspectionAttachment.id)):
            found[attachment.entry_id].append(attachment)
    return found
