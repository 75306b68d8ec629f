"""Routes of this module."""

from fastapi import APIRouter

router = APIRouter()
