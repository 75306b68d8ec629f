"""Response shapes of the ledger, report and statistics endpoints."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class AccountBalance(BaseModel):
    """A party's balance: what the platform owes it (for `clearing`, the money received), in two parts.

    `pending_fen` is credited by orders not yet settled (not yet delivered, or delivered less
    than the settlement days ago); `settled_fen` by orders settled. They add up to `balance_fen`.
    """

    party: str
    kind: str
    balance_fen: int
    pending_fen: int = Field(default=0, description="Credits of paid orders not yet settled.")
    settled_fen: int = Field(default=0, description="Credits of settled orders, less refunds made after settlement.")
    as_of: datetime | None = Field(default=None, description="The balance at this moment; null means now.")


class EntryPublic(BaseModel):
    """One entry of an account, with the effect it had on the balance."""

    id: int
    transaction_id: int
    kind: str = Field(description="`sale`, `reversal` (a refund) or `settlement` (pending moved to settled).")
    order_id: int
    channel: str
    stream_id: int | None
    direction: str
    bucket: str = Field(description="The part of the balance the entry moves: `pending` or `settled`.")
    amount_fen: int
    balance_effect_fen: int = Field(description="+amount when the entry raised the balance, -amount when it lowered it.")
    product_id: int | None
    created_at: datetime


class LedgerCheck(BaseModel):
    """Proof that the books balance, recomputed from the entries."""

    balanced: bool = Field(description="Debits equal credits, every transaction balances, and every running balance matches its entries.")
    total_debits_fen: int
    total_credits_fen: int
    transactions_checked: int
    unbalanced_transactions: int
    accounts_checked: int
    mismatched_accounts: list[str] = Field(description="Parties whose stored balance differs from the sum of their entries.")
    split_mismatched_accounts: list[str] = Field(
        default_factory=list,
        description="Parties whose pending and settled parts do not add up to the balance, differ from their entries, or are negative.",
    )
    unbalanced_settlements: int = Field(
        default=0, description="Orders whose settlement state disagrees with their postings (settled without one transfer, or twice)."
    )
    as_of: datetime | None = None


class ProductSales(BaseModel):
    product_id: int
    name: str
    county_id: int
    orders: int
    units: int
    gross_fen: int = Field(description="Gross: every payment, refunded or not.")
    refunded_units: int
    refunded_fen: int = Field(description="Refunded: what refunds took back (counted when refunded).")
    net_units: int
    net_fen: int = Field(description="Net: gross less refunded.")


class CountySales(BaseModel):
    county_id: int
    name: str
    units: int
    gross_fen: int = Field(description="Gross: every payment, refunded or not.")
    refunded_fen: int = Field(description="Refunded: what refunds took back (counted when refunded).")
    net_fen: int = Field(description="Net: gross less refunded.")


class PartyCredit(BaseModel):
    """What one party was credited from a stream's sales, and what refunds took back."""

    party: str
    credited_fen: int = Field(description="Gross: the party's shares of every payment.")
    reversed_fen: int = Field(description="Refunded: the shares refunds took back.")
    net_fen: int = Field(description="Net: credited less reversed (pending and settled together; see the party's account).")


class HouseholdCredit(PartyCredit):
    household_id: int
    county_id: int
    name: str = Field(description="Masked unless the caller is staff of the household's county.")
    masked: bool


class StreamReport(BaseModel):
    """A stream's sales: gross (every payment), refunds, and net, overall and broken down."""

    stream_id: int
    gmv_fen: int = Field(description="Every paid order's amount, refunded or not.")
    paid_orders: int
    refunded_fen: int = Field(description="Refunded: what refunds took back (counted when refunded).")
    refunded_orders: int
    net_fen: int = Field(description="Net: gross less refunded.")
    units: int
    refunded_units: int
    net_units: int
    by_product: list[ProductSales]
    by_county: list[CountySales]
    by_household: list[HouseholdCredit]
    by_party: list[PartyCredit] = Field(description="Every party credited: households, stations, counties, the platform.")


class SalesFigures(BaseModel):
    """Sales in a period: paid ones on the day paid, refunds on the day refunded."""

    orders: int = 0
    units: int = 0
    gross_fen: int = Field(default=0, description="Gross: sales paid in the period, refunded or not.")
    refunded_orders: int = 0
    refunded_units: int = 0
    refunded_fen: int = Field(default=0, description="Refunded: refunds made in the period.")
    net_fen: int = Field(default=0, description="Net: gross less refunded.")
    household_fen: int = Field(default=0, description="The part of gross credited to households.")
    refunded_household_fen: int = 0
    net_household_fen: int = 0


class ChannelSales(SalesFigures):
    channel: str


class AccountMovement(BaseModel):
    """An account over a period: opening balance, what came in and went out, closing balance, each split pending/settled.

    `credited_fen` (sales) and `debited_fen` (refunds) leave out settlement transfers, which
    move money from pending to settled without changing the balance; `settled_in_period_fen`
    is what those transfers moved.
    """

    party: str
    name: str | None = None
    opening_balance_fen: int
    credited_fen: int
    debited_fen: int
    closing_balance_fen: int
    opening_pending_fen: int = 0
    opening_settled_fen: int = 0
    settled_in_period_fen: int = Field(default=0, description="Moved from pending to settled in the period.")
    closing_pending_fen: int = 0
    closing_settled_fen: int = 0


class CountyStatement(BaseModel):
    county_id: int
    name: str
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    timezone: str
    sales: SalesFigures
    by_channel: list[ChannelSales]
    accounts: list[AccountMovement] = Field(description="The county's own account, its stations' and its households'.")


class ProductCredit(BaseModel):
    product_id: int
    name: str
    credited_fen: int = Field(description="Gross: the household's shares of the product's sales in the period.")
    reversed_fen: int = Field(description="Refunded: the shares refunds took back in the period.")
    net_fen: int = Field(description="Net: credited less reversed.")


class HouseholdStatement(BaseModel):
    household_id: int
    name: str
    county_id: int
    village: str
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    timezone: str
    account: AccountMovement
    by_product: list[ProductCredit]


class ConsumptionGroup(SalesFigures):
    key: str = Field(
        description="`county:<id>`, the channel name, the unit type (`none`: orders naming no unit), the linkage type "
        "(`not_recorded`: households whose linkage is not recorded), or the products' linkage mechanism (likewise)."
    )
    county_id: int | None = None
    name: str | None = None
    channel: str | None = None
    unit_type: str | None = None
    linkage_type: str | None = Field(
        default=None,
        description="By linkage: `production`, `employment`, `dividend`, `other` or `not_recorded`. A household's credit falls "
        "to its own type; a product line's orders, units and gross to each type among the households it credited.",
    )
    linkage_mechanism: str | None = Field(
        default=None,
        description="By mechanism: the seller's benefit-linkage mechanism recorded on the product (`production`, "
        "`employment`, `dividend`, `other` or `not_recorded`); each line with all its credits falls to its product's.",
    )


class ConsumptionStats(BaseModel):
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    group_by: str
    timezone: str
    items: list[ConsumptionGroup]
    total: SalesFigures
    certified_only: bool = Field(default=False, description="Only certified products' sales (certified when paid) are counted.")
    monitored_only: bool = Field(
        default=False, description="Only what reached households under monitoring: their credits and the lines that credited them."
    )
    monitored: bool | None = Field(
        default=None,
        description="The monitoring filter asked for: true, what reached households under monitoring; false, what reached "
        "households not under it; null, everything.",
    )


class StationRank(BaseModel):
    """One village service station's place by the sales credited to it in a period."""

    rank: int = Field(description="1 for the most; stations with equal net credit share a rank.")
    station_id: int
    name: str
    village: str
    county_id: int
    county_name: str | None = None
    credited_fen: int = Field(description="Credited by sales paid in the period.")
    reversed_fen: int = Field(description="Taken back by refunds in the period.")
    net_fen: int


class StationRanking(BaseModel):
    """Village service stations ranked by net sales credited in a period (the award ceremony's table)."""

    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    timezone: str
    items: list[StationRank]
