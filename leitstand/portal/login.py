"""Portal pages: login (password, then the second factor) and logout."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
