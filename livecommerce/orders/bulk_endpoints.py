"""Routes for unit subscriptions and physical-channel sales."""

from fastapi import APIRouter

router = APIRouter()
