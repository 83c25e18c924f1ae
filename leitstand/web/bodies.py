"""Reading raw request bodies with a size cap, for routes that take CSV, uploads or device payloads."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from leitstand.web.errors import Message, Problem, invalid


def too_large(limit: int) -> Problem:
    return Problem(413, "too-large", "Request too large", Message("The body may hold at most %(limit)s bytes.", limit=limit))


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds `limit` bytes
    (whether or not the client declared a Content-Length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def only_file(form: FormData, field: str, what: str) -> UploadFile:
    """The upload in `field` of a multipart form that holds nothing else: the schema documents
    that one field, so another one is refused rather than ignored."""
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or len(form.multi_items()) != 1:
        raise invalid(Message("Send %(what)s in the form field `%(field)s`, and nothing else.", what=Message(what), field=field))
    return upload
