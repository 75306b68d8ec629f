"""The back office's router: every `/manage` page of master data and the schedule."""

from fastapi import APIRouter

from web.manage import catalog_pages, schedule_pages

router = APIRouter(include_in_schema=False)
router.include_router(catalog_pages.router)
router.include_router(schedule_pages.router)
