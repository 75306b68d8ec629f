"""Request and response shapes for master data."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from livecommerce.kit.types import MAX_ID, Instant, StrictInput

# Benefit linkage (联农带农): how a household benefits from the products sold, and a seller's mechanism for it.
LinkageType = Literal["production", "employment", "dividend", "other"]
LINKAGE_TYPES: tuple[str, ...] = get_args(LinkageType)
# The Chinese labels an office writes (an import accepts the English value or one of these).
LINKAGE_LABELS_ZH = {"production": "带动生产", "employment": "带动就业", "dividend": "资产收益", "other": "其他"}
LINKAGE_DOC = (
    "Benefit linkage (联农带农): `production` (带动生产), `employment` (带动就业), "
    "`dividend` (资产收益/分红) or `other`; `null`: not recorded."
)


def as_linkage(value: str | None) -> LinkageType | None:
    """A stored linkage value as the vocabulary (anything else reads as not recorded)."""
    return cast(LinkageType, value) if value in LINKAGE_TYPES else None


PARTY_PATTERN = re.compile(r"^(household|station|county):[1-9][0-9]{0,17}$|^platform$")
TOTAL_BP = 10000


class CountyCreate(StrictInput):
    name: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    city: str = Field(min_length=1, max_length=64)
    province: str = Field(min_length=1, max_length=64)


class CountyPublic(CountyCreate):
    model_config = ConfigDict(extra="ignore", strict=False)

    id: int


class StationCreate(StrictInput):
    county_id: int = Field(gt=0, le=MAX_ID)
    name: str = Field(min_length=1, max_length=128)
    village: str = Field(min_length=1, max_length=64)


class StationUpdate(StrictInput):
    """A change by staff of the station's county: its name or village (it stays in its county).

    Leave a field out to keep it. It cannot be removed: the schema has no `null` for it, and a `null` is 422.
    """

    name: Annotated[str, Field(min_length=1, max_length=128)] | SkipJsonSchema[None] = None
    village: Annotated[str, Field(min_length=1, max_length=64)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> StationUpdate:
        if nulled := sorted(f for f in self.model_fields_set if getattr(self, f) is None):
            raise ValueError(f"{', '.join(nulled)} may be changed but not removed")
        return self


class StationPublic(StationCreate):
    model_config = ConfigDict(extra="ignore", strict=False)

    id: int


class HouseholdCreate(StrictInput):
    county_id: int = Field(gt=0, le=MAX_ID)
    name: str = Field(min_length=1, max_length=64)
    village: str = Field(min_length=1, max_length=64)
    registration_no: str = Field(min_length=1, max_length=64)
    monitored: bool = Field(default=False, strict=True, description="Under anti-relapse monitoring.")
    linkage_type: LinkageType | None = Field(default=None, description=f"How the household benefits. {LINKAGE_DOC}")


class HouseholdUpdate(BaseModel):
    """A change by staff of the household's county: its monitoring, its linkage type, or both."""

    model_config = ConfigDict(extra="forbid", strict=True)

    monitored: bool | None = Field(default=None, description="Under anti-relapse monitoring (防返贫监测户).")
    linkage_type: LinkageType | None = Field(default=None, description=f"How the household benefits. {LINKAGE_DOC}")

    @model_validator(mode="after")
    def _not_empty(self) -> HouseholdUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if "monitored" in self.model_fields_set and self.monitored is None:
            raise ValueError("monitored cannot be null")
        return self


class HouseholdChange(StrictInput):
    """A correction by staff of the household's county: its name, village and monitoring."""

    name: str = Field(min_length=1, max_length=64)
    village: str = Field(min_length=1, max_length=64)
    monitored: bool = Field(default=False, strict=True, description="Under anti-relapse monitoring.")
    linkage_type: LinkageType | None = Field(default=None, description=f"How the household benefits. {LINKAGE_DOC}")


class HouseholdPublic(BaseModel):
    """A household; `name` and `registration_no` are masked unless the caller may see them."""

    id: int
    county_id: int
    name: str
    village: str
    registration_no: str
    masked: bool
    monitored: bool = False
    linkage_type: LinkageType | None = Field(default=None, description=f"How the household benefits. {LINKAGE_DOC}")


class AnchorCreate(StrictInput):
    name: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=128)
    county_id: int = Field(gt=0, le=MAX_ID)


class AnchorPublic(AnchorCreate):
    model_config = ConfigDict(extra="ignore", strict=False)

    id: int


class Split(StrictInput):
    """One party's share of a product's sales in basis points."""

    party: str = Field(max_length=32, description='"household:<id>", "station:<id>", "county:<id>" or "platform"')
    bp: int = Field(gt=0, le=TOTAL_BP)

    @field_validator("party")
    @classmethod
    def _party_form(cls, value: str) -> str:
        if not PARTY_PATTERN.match(value):
            raise ValueError('party must be "household:<id>", "station:<id>", "county:<id>" or "platform"')
        if value != "platform" and int(value.split(":")[1]) > MAX_ID:
            raise ValueError("party id out of range")
        return value

    @property
    def kind(self) -> str:
        """household, station, county or platform."""
        return self.party.split(":")[0]

    @property
    def party_id(self) -> int | None:
        """The household, station or county id (None for the platform)."""
        return None if self.party == "platform" else int(self.party.split(":")[1])


def _check_splits(splits: list[Split]) -> list[Split]:
    total = sum(s.bp for s in splits)
    if total != TOTAL_BP:
        raise ValueError(f"split basis points must sum to exactly {TOTAL_BP}, got {total}")
    parties = [s.party for s in splits]
    if len(set(parties)) != len(parties):
        raise ValueError("each party may appear only once in splits")
    return splits


class ProductCreate(StrictInput):
    name: str = Field(min_length=1, max_length=128)
    county_id: int = Field(gt=0, le=MAX_ID)
    unit: str = Field(min_length=1, max_length=32)
    price_fen: int = Field(gt=0, le=100_000_000)
    stock: int = Field(ge=0, le=100_000_000)
    splits: list[Split] = Field(min_length=1, max_length=50)
    description: str = Field(default="", max_length=2000)
    image_url: str | None = Field(default=None, max_length=512)
    urgent_until: Instant | None = Field(
        default=None, description="An urgent sale (perishable or unsalable stock) until this moment: listed first meanwhile."
    )
    linkage_mechanism: LinkageType | None = Field(
        default=None, description=f"The seller's mechanism for benefiting households. {LINKAGE_DOC}"
    )

    @field_validator("splits")
    @classmethod
    def _splits_sum(cls, value: list[Split]) -> list[Split]:
        return _check_splits(value)


class ProductUpdate(StrictInput):
    """A change by staff: price, total stock (as free units), splits, or description."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    price_fen: int | None = Field(default=None, gt=0, le=100_000_000)
    stock: int | None = Field(default=None, ge=0, le=100_000_000, description="Units free to order.")
    splits: list[Split] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=512)
    urgent_until: Instant | None = Field(default=None, description="Mark an urgent sale until this moment; `null` ends it.")
    linkage_mechanism: LinkageType | None = Field(
        default=None, description=f"The seller's mechanism for benefiting households. {LINKAGE_DOC} `null` clears it."
    )

    @field_validator("splits")
    @classmethod
    def _splits_sum(cls, value: list[Split] | None) -> list[Split] | None:
        return None if value is None else _check_splits(value)

    @model_validator(mode="after")
    def _not_empty(self) -> ProductUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        nulled = sorted(f for f in self.model_fields_set & NOT_NULL_PRODUCT_FIELDS if getattr(self, f) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self


NOT_NULL_PRODUCT_FIELDS = frozenset({"name", "price_fen", "stock", "splits", "description"})


class ProductPublic(BaseModel):
    id: int
    name: str
    county_id: int
    unit: str
    price_fen: int
    stock: int
    reserved: int
    sold: int
    splits: list[Split]
    description: str
    image_url: str | None
    updated_at: datetime
    certified: bool = Field(default=False, description="A poverty-alleviation certificate is in force today.")
    urgent_until: datetime | None = None
    urgent: bool = Field(default=False, description="An urgent sale now (before `urgent_until`).")
    linkage_mechanism: LinkageType | None = Field(
        default=None, description=f"The seller's mechanism for benefiting households. {LINKAGE_DOC}"
    )


class CertificationCreate(BaseModel):
    """A poverty-alleviation certificate granted to a product."""

    model_config = ConfigDict(extra="forbid")

    certificate_no: str = Field(min_length=1, max_length=64)
    valid_until: date = Field(description="The last day (Asia/Shanghai) the certificate counts.")


class CertificationPublic(BaseModel):
    """One certificate of a product."""

    id: int
    product_id: int
    certificate_no: str
    valid_until: date
    granted_at: datetime
    revoked_at: datetime | None


class RowError(BaseModel):
    """One problem of an imported file: its row as the spreadsheet numbers it (the header is 1), its column, what is wrong."""

    row: int | None = Field(description="The spreadsheet's row number; null for the file as a whole.")
    column: str | None = Field(description="The column's header as the file has it; null for the whole row or file.")
    message: str


class ImportResult(BaseModel):
    """What an import did (or, on a dry run, would do)."""

    created: int
    updated: int
    errors: list[RowError] = Field(
        default_factory=list, description="Always empty on success: any error makes it 422 and nothing is imported."
    )
    dry_run: bool = False


class ImportProblem(BaseModel):
    """A refused import (problem+json): nothing was imported."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[RowError]
