"""The websocket relay route."""

from fastapi import APIRouter

router = APIRouter()
