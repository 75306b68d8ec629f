"""Demo data after the story that started it all: officials of northern Guangdong as "carrying anchors".

In 2020 county heads, deputy party secretaries and village first secretaries of Qingyuan and
Shaoguan went on camera to sell their villages' eggs, rice, honey and tea; Guangdong credited
23.1 billion yuan of consumption poverty alleviation in eight months. The people below are
invented; the places and produce are the story's.

`load_demo` is idempotent: master data and users are looked up by their natural keys before
anything is added, and the broadcast schedule is added only with its campaign, so a second
run changes nothing and returns the same sign-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts import service as accounts
from livecommerce.accounts.models import User
from livecommerce.accounts.principals import load_principal
from livecommerce.accounts.schemas import UserCreate
from livecommerce.accounts.security import verify_password
from livecommerce.assistance import service as assistance
from livecommerce.assistance.schemas import UnitCreate
from livecommerce.broadcasts import service as broadcasts
from livecommerce.catalog import certification
from livecommerce.catalog import repository as catalog_repository
from livecommerce.catalog import service as catalog
from livecommerce.catalog.schemas import (
    AnchorCreate,
    CertificationCreate,
    CountyCreate,
    HouseholdCreate,
    LinkageType,
    ProductCreate,
    Split,
    StationCreate,
)
from livecommerce.kit.clock import utcnow
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.ledger import service as ledger
from livecommerce.ledger import settlement
from livecommerce.orders import deals, fulfillment
from livecommerce.orders import service as orders
from livecommerce.orders.placement import Ask, BulkRules, Item, LiveRules, Scope, place_batch
from livecommerce.orders.schemas import Channel, FlashDealCreate, ShipmentCreate
from livecommerce.payments.sandbox import SandboxProvider
from schedulers import seed
from streams.chat.service import ChatRules, post_message

if TYPE_CHECKING:
    from livecommerce.catalog.models import Anchor, County, Household, Product, Station

DEMO_PASSWORD = "fupin-2020"
CAMPAIGN_NAME = "消费扶贫月 Consumer Poverty Alleviation Month"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_LOADER = Principal(id=0, username="demo", role=Role.admin, display_name="demo loader")

Login = tuple[str, str, str]


@dataclass(frozen=True)
class _County:
    key: str
    name: str
    code: str
    city: str


@dataclass(frozen=True)
class _Station:
    key: str
    county: str
    name: str
    village: str


@dataclass(frozen=True)
class _Household:
    key: str
    county: str
    name: str
    village: str
    registration_no: str


# Benefit linkage (联农带农), a mix so that statistics by linkage show every group; the rest not recorded.
HOUSEHOLD_LINKAGE: dict[str, LinkageType] = {
    "zhu_guoqiang": "production",
    "zhu_yumei": "employment",
    "huang_weidong": "production",
    "huang_xiuying": "dividend",
    "he_zhiming": "employment",
    "lu_fusheng": "production",
    "lu_guilan": "dividend",
    "deng_weixiong": "other",
    "ye_jianming": "production",
    "zeng_desheng": "employment",
}
# Households under anti-relapse monitoring (防返贫监测户), so that the monitored filter has something to show.
MONITORED_HOUSEHOLDS = frozenset({"huang_xiuying", "lu_guilan", "zhong_meiling"})
PRODUCT_LINKAGE: dict[str, LinkageType] = {
    "eggs": "production",
    "rice": "production",
    "honey": "dividend",
    "arrowroot": "employment",
    "black_tea": "employment",
    "bamboo_shoots": "production",
    "selenium_rice": "dividend",
    "ginkgo": "other",
}


@dataclass(frozen=True)
class _Product:
    key: str
    county: str
    name: str
    unit: str
    price_fen: int
    stock: int
    households: tuple[str, ...]
    station: str
    description: str


@dataclass(frozen=True)
class _Anchor:
    key: str
    county: str
    name: str
    title: str


@dataclass(frozen=True)
class _User:
    username: str
    role: Role
    display_name: str
    counties: tuple[str, ...] = ()
    anchor: str | None = None


COUNTIES = (
    _County("fogang", "佛冈县 Fogang", "441821", "清远市 Qingyuan"),
    _County("yingde", "英德市 Yingde", "441881", "清远市 Qingyuan"),
    _County("nanxiong", "南雄市 Nanxiong", "440282", "韶关市 Shaoguan"),
)
PROVINCE = "广东省 Guangdong"

STATIONS = (
    _Station("wangtian", "fogang", "水头镇王田村电商服务站", "王田村"),
    _Station("jinggang", "fogang", "迳头镇井冈村电商服务站", "井冈村"),
    _Station("baoshan", "fogang", "高岗镇宝山村电商服务站", "宝山村"),
    _Station("shuangfeng", "fogang", "石角镇双峰村电商服务站", "双峰村"),
    _Station("lianzhang", "yingde", "连江口镇连樟村电商服务站", "连樟村"),
    _Station("huatang", "yingde", "西牛镇花塘村电商服务站", "花塘村"),
    _Station("lingtan", "nanxiong", "珠玑镇灵潭村电商服务站", "灵潭村"),
    _Station("pingtian", "nanxiong", "坪田镇坪田村电商服务站", "坪田村"),
)

HOUSEHOLDS = (
    _Household("zhu_guoqiang", "fogang", "朱国强", "王田村", "441821-0103-0012"),
    _Household("zhu_yumei", "fogang", "朱玉梅", "王田村", "441821-0103-0027"),
    _Household("huang_weidong", "fogang", "黄伟东", "井冈村", "441821-0207-0005"),
    _Household("huang_xiuying", "fogang", "黄秀英", "井冈村", "441821-0207-0031"),
    _Household("he_zhiming", "fogang", "何志明", "宝山村", "441821-0311-0008"),
    _Household("li_shaohua", "fogang", "李少华", "双峰村", "441821-0405-0016"),
    _Household("lu_fusheng", "yingde", "陆福生", "连樟村", "441881-1102-0003"),
    _Household("lu_guilan", "yingde", "陆桂兰", "连樟村", "441881-1102-0019"),
    _Household("deng_weixiong", "yingde", "邓伟雄", "花塘村", "441881-0806-0022"),
    _Household("ye_jianming", "nanxiong", "叶建明", "灵潭村", "440282-0504-0010"),
    _Household("zeng_desheng", "nanxiong", "曾德胜", "坪田村", "440282-0901-0007"),
    _Household("zhong_meiling", "nanxiong", "钟美玲", "坪田村", "440282-0901-0025"),
)

PRODUCTS = (
    _Product(
        "eggs",
        "fogang",
        "广生源鸡蛋 Guangshengyuan eggs",
        "盒(30枚)",
        4990,
        600,
        ("zhu_guoqiang", "zhu_yumei"),
        "wangtian",
        "Free-range eggs from hens raised under the lychee trees of Wangtian village.",
    ),
    _Product(
        "rice",
        "fogang",
        "金仙米 Jinxianmei rice",
        "袋(5kg)",
        6900,
        400,
        ("huang_weidong", "huang_xiuying"),
        "jinggang",
        "Fragrant late-season rice grown on Jinggang village's terraces.",
    ),
    _Product(
        "honey",
        "fogang",
        "春忠宝蜂蜜 Chunzhongbao honey",
        "瓶(500g)",
        8800,
        250,
        ("he_zhiming",),
        "baoshan",
        "Wild-flower honey from hives kept in the hills of Gaogang.",
    ),
    _Product(
        "arrowroot",
        "fogang",
        "双峰葛粉 Shuangfeng arrowroot powder",
        "袋(500g)",
        4500,
        300,
        ("li_shaohua",),
        "shuangfeng",
        "Hand-washed kudzu root starch, a Fogang staple for cooling soups.",
    ),
    _Product(
        "black_tea",
        "yingde",
        "英德红茶 Yingde black tea",
        "罐(250g)",
        12800,
        200,
        ("lu_fusheng", "lu_guilan"),
        "lianzhang",
        "Yinghong No. 9 black tea picked and rolled in Lianzhang village.",
    ),
    _Product(
        "bamboo_shoots",
        "yingde",
        "西牛麻竹笋 Xiniu bamboo shoots",
        "袋(500g)",
        2990,
        500,
        ("deng_weixiong",),
        "huatang",
        "Sun-dried ma bamboo shoots from Huatang village.",
    ),
    _Product(
        "selenium_rice",
        "nanxiong",
        "南雄富硒大米 Nanxiong selenium-rich rice",
        "袋(5kg)",
        5990,
        400,
        ("ye_jianming",),
        "lingtan",
        "Rice from the red soil of the Nanxiong basin near the ancient Zhuji lane.",
    ),
    _Product(
        "ginkgo",
        "nanxiong",
        "坪田银杏 Pingtian ginkgo nuts",
        "袋(500g)",
        3990,
        300,
        ("zeng_desheng",),
        "pingtian",
        "Ginkgo nuts from the thousand-year-old groves of Pingtian.",
    ),
    _Product(
        "cured_duck",
        "nanxiong",
        "南雄板鸭 Nanxiong cured duck",
        "只",
        7800,
        150,
        ("zhong_meiling",),
        "pingtian",
        "Pressed and air-dried in the winter wind, the Nanxiong way.",
    ),
)

ANCHORS = (
    _Anchor("fogang_head", "fogang", "黄建华", "佛冈县县长 County head of Fogang"),
    _Anchor("fogang_deputy", "fogang", "李文静", "佛冈县委副书记 Deputy party secretary of Fogang"),
    _Anchor("wangtian_secretary", "fogang", "周晓明", "王田村第一书记 First secretary of Wangtian village"),
    _Anchor("jinggang_secretary", "fogang", "朱永福", "井冈村党支部书记 Party branch secretary of Jinggang village"),
    _Anchor("yingde_vice_mayor", "yingde", "邓海燕", "英德市副市长 Vice mayor of Yingde"),
    _Anchor("lianzhang_secretary", "yingde", "梁志勇", "连樟村第一书记 First secretary of Lianzhang village"),
    _Anchor("nanxiong_vice_mayor", "nanxiong", "钟国平", "南雄市副市长 Vice mayor of Nanxiong"),
    _Anchor("pingtian_secretary", "nanxiong", "何春梅", "坪田村党支部书记 Party branch secretary of Pingtian village"),
)

USERS = (
    _User("admin", Role.admin, "平台管理员 Platform admin"),
    _User("organizer_fogang", Role.organizer, "佛冈县电商办 Fogang e-commerce office", ("fogang",)),
    _User("organizer_north", Role.organizer, "英德·南雄消费扶贫专班 Yingde & Nanxiong task force", ("yingde", "nanxiong")),
    _User("cadre_huang", Role.cadre, "黄建华", ("fogang",), "fogang_head"),
    _User("cadre_zhou", Role.cadre, "周晓明", ("fogang",), "wangtian_secretary"),
    _User("cadre_liang", Role.cadre, "梁志勇", ("yingde",), "lianzhang_secretary"),
    _User("cadre_zhong", Role.cadre, "钟国平", ("nanxiong",), "nanxiong_vice_mayor"),
    _User("viewer_li", Role.viewer, "李小姐"),
    _User("viewer_chen", Role.viewer, "陈先生"),
)

# Fogang's own studio airs Fogang's broadcasts; the city's livestream base is shared by every county.
STUDIOS = (
    ("media_centre", "佛冈县融媒体中心直播间 Fogang media centre studio", "抖音 Douyin", "fogang"),
    ("livestream_base", "清远消费扶贫直播基地 Qingyuan livestream base", "快手 Kuaishou", None),
)


class _Loader:
    """Adds whatever of the demo is missing, remembering ids by the keys above."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.counties: dict[str, County] = {}
        self.stations: dict[str, Station] = {}
        self.households: dict[str, Household] = {}
        self.products: dict[str, Product] = {}
        self.anchors: dict[str, Anchor] = {}

    async def master_data(self) -> None:
        s = self.session
        for c in COUNTIES:
            county = await catalog_repository.find_county(s, c.code)
            if county is None:
                county = await catalog.create_county(s, CountyCreate(name=c.name, code=c.code, city=c.city, province=PROVINCE))
            self.counties[c.key] = county
        for st in STATIONS:
            cid = self._county_id(st.county)
            station = await catalog_repository.find_station(s, cid, st.name)
            if station is None:
                station = await catalog.create_station(s, _LOADER, StationCreate(county_id=cid, name=st.name, village=st.village))
            self.stations[st.key] = station
        for h in HOUSEHOLDS:
            cid = self._county_id(h.county)
            household = await catalog_repository.find_household(s, cid, h.registration_no)
            if household is None:
                household_data = HouseholdCreate.model_validate(
                    {
                        "county_id": cid,
                        "name": h.name,
                        "village": h.village,
                        "registration_no": h.registration_no,
                        "monitored": h.key in MONITORED_HOUSEHOLDS,
                        "linkage_type": HOUSEHOLD_LINKAGE.get(h.key),
                    }
                )
                household = await catalog.create_household(s, _LOADER, household_data)
            self.households[h.key] = household
        for a in ANCHORS:
            cid = self._county_id(a.county)
            anchor = await catalog_repository.find_anchor(s, cid, a.name)
            if anchor is None:
                anchor = await catalog.create_anchor(s, _LOADER, AnchorCreate(name=a.name, title=a.title, county_id=cid))
            self.anchors[a.key] = anchor
        for p in PRODUCTS:
            cid = self._county_id(p.county)
            product = await catalog_repository.find_product(s, cid, p.name)
            if product is None:
                data = ProductCreate(
                    name=p.name,
                    county_id=cid,
                    unit=p.unit,
                    price_fen=p.price_fen,
                    stock=p.stock,
                    splits=self._splits(p),
                    description=p.description,
                    linkage_mechanism=PRODUCT_LINKAGE.get(p.key),
                )
                product = await catalog.create_product(s, _LOADER, data, self.now)
            self.products[p.key] = product

    def _county_id(self, key: str) -> int:
        county_id = self.counties[key].id
        assert county_id is not None
        return county_id

    def _splits(self, p: _Product) -> list[Split]:
        """70% to the households that grew it, 10% each to the village station, the county and the platform."""
        share, rest = divmod(7000, len(p.households))
        splits = [Split(party=f"household:{self.households[h].id}", bp=share + (rest if i == 0 else 0)) for i, h in enumerate(p.households)]
        splits.append(Split(party=f"station:{self.stations[p.station].id}", bp=1000))
        splits.append(Split(party=f"county:{self._county_id(p.county)}", bp=1000))
        splits.append(Split(party="platform", bp=1000))
        return splits

    async def users(self) -> list[Login]:
        logins: list[Login] = []
        for u in USERS:
            existing = (await self.session.scalars(select(User).where(col(User.username) == u.username).limit(1))).first()
            if existing is None:
                data = UserCreate(
                    username=u.username,
                    password=DEMO_PASSWORD,
                    role=u.role,
                    display_name=u.display_name,
                    county_ids=[self._county_id(c) for c in u.counties],
                    anchor_id=self.anchors[u.anchor].id if u.anchor else None,
                )
                await accounts.create_user(self.session, data)
                logins.append((u.username, u.role.value, self._who(u)))
            elif _demo_password_works(existing):
                logins.append((u.username, existing.role, self._who(u)))
            else:
                logins.append((u.username, existing.role, "(existing account with its own password)"))
        return logins

    def _who(self, u: _User) -> str:
        if u.anchor is not None:
            anchor = next(a for a in ANCHORS if a.key == u.anchor)
            return f"{anchor.name}, {anchor.title}"
        return u.display_name

    async def schedule(self) -> bool:
        """The campaign, its studios, slots and bookings: one broadcast live now, four coming up, two open slots.

        True when it was added now (False when the demo's campaign was there already).
        """
        if await seed.campaign_exists(self.session, CAMPAIGN_NAME):
            return False
        today = self.now.astimezone(SHANGHAI).date()

        def local(days: int, hour: int) -> datetime:
            return datetime.combine(today + timedelta(days=days), time(hour), SHANGHAI)

        def book(
            studio: str,
            starts_at: datetime,
            title: str,
            anchors: tuple[str, ...],
            products: tuple[str, ...],
            status: Literal["requested", "confirmed", "live"],
        ) -> seed.SeedBooking:
            anchor_ids = tuple(self._id(self.anchors[k]) for k in anchors)
            product_ids = tuple(self._id(self.products[k]) for k in products)
            return seed.SeedBooking(studio, starts_at, title, anchor_ids, product_ids, status)

        half_hour = self.now.replace(minute=self.now.minute - self.now.minute % 30, second=0, microsecond=0)
        plan = seed.SeedSchedule(
            campaign=CAMPAIGN_NAME,
            description=(
                "Officials and village cadres of Qingyuan and Shaoguan host live broadcasts of their villages' produce; "
                "every fen is credited to the households, stations and counties behind it."
            ),
            starts_at=local(-7, 0),
            ends_at=local(23, 0),
            studios=tuple(
                seed.SeedStudio(key, name, platform, self._id(self.counties[county]) if county else None)
                for key, name, platform, county in STUDIOS
            ),
            bookings=(
                book(
                    "media_centre", half_hour - timedelta(minutes=30), "县长带货：佛冈好物专场 The county head sells Fogang's best",
                    ("fogang_head", "wangtian_secretary"), ("eggs", "rice", "honey", "arrowroot"), "live",
                ),
                book(
                    "livestream_base", half_hour + timedelta(hours=4), "英德红茶直播间 Yingde black tea, live from Lianzhang",
                    ("yingde_vice_mayor", "lianzhang_secretary"), ("black_tea", "bamboo_shoots"), "confirmed",
                ),
                book(
                    "media_centre", local(1, 20), "第一书记带你逛王田村 A first secretary's tour of Wangtian",
                    ("wangtian_secretary", "jinggang_secretary"), ("eggs", "rice"), "confirmed",
                ),
                book(
                    "livestream_base", local(2, 10), "珠玑古巷好物 Nanxiong's harvest from the Zhuji lane",
                    ("nanxiong_vice_mayor", "pingtian_secretary"), ("selenium_rice", "ginkgo", "cured_duck"), "confirmed",
                ),
                book(
                    "media_centre", local(3, 20), "县委副书记的丰收专场 The deputy secretary's harvest special",
                    ("fogang_deputy",), ("honey", "arrowroot"), "requested",
                ),
            ),
            open_slots=(("media_centre", local(4, 20)), ("livestream_base", local(4, 10))),
        )  # fmt: skip
        await seed.seed_schedule(self.session, plan, now=self.now)
        return True

    async def _principal(self, username: str) -> Principal:
        user = (await self.session.scalars(select(User).where(col(User.username) == username).limit(1))).first()
        assert user is not None and user.id is not None
        return await load_principal(self.session, user.id, None)

    async def commerce(self) -> None:
        """What the live broadcast has done so far: paid and shipped orders, a flash deal counting down, chat,
        certified products, purchasing units (a bureau, a school canteen, an enterprise and its union) whose
        subscriptions count toward their quotas, and station
        sales, one settled and one pending."""
        s, now, settings = self.session, self.now, Settings()
        stream_id = min(await broadcasts.live_stream_heads(s))
        admin, organizer = await self._principal("admin"), await self._principal("organizer_fogang")
        viewers = [await self._principal("viewer_li"), await self._principal("viewer_chen")]
        eggs, rice, honey = (self._id(self.products[k]) for k in ("eggs", "rice", "honey"))
        until = (now + timedelta(days=365)).astimezone(SHANGHAI).date()
        for n, product_id in enumerate((eggs, rice, honey), start=1):
            await certification.grant(
                s, admin, product_id, CertificationCreate(certificate_no=f"GD-FG-2026-{n:04d}", valid_until=until), now
            )
        live = LiveRules(settings)
        for n, (buyer, items) in enumerate(((viewers[0], (Item(eggs, 2), Item(honey, 1))), (viewers[1], (Item(rice, 1),)))):
            ask = Ask(buyer=buyer, scope=Scope(Channel.live, stream_id=stream_id), items=items, key=f"demo-order-{n}", now=now)
            await place_batch(s, [ask], live, settings)
            assert ask.result is not None, ask.error
            await orders.pay_with_provider(s, buyer, ask.result.id, SandboxProvider(settings.payment_webhook_secret), now=now)
            if n == 0:
                parcel = ShipmentCreate(carrier="EMS", tracking_no="EA123456789CN")
                await fulfillment.record_shipment(s, organizer, ask.result.id, parcel, carriers=settings.carriers, now=now)
        await post_message(s, stream_id, viewers[1], "佛冈的鸡蛋真新鲜，再来两盒！", rules=ChatRules(), now=now)
        deal = FlashDealCreate(
            product_id=eggs, price_fen=2390, quantity=100, per_buyer_limit=2, countdown_seconds=120, duration_seconds=900
        )
        await deals.announce_deal(s, organizer, stream_id, deal, now=now)
        fogang = self._county_id("fogang")
        government = await self._unit(admin, "佛冈县教育局 Fogang education bureau", "government", 120_000_000, fogang)
        school = await self._unit(admin, "佛冈中学食堂 Fogang middle school canteen", "school", 36_000_000, fogang)
        enterprise = await self._unit(admin, "广东粤北电力公司 Yuebei power company", "enterprise", 80_000_000, fogang)
        union = await self._unit(admin, "粤北电力工会 its trade union", "union", 6_000_000, None, parent=enterprise)
        purchases = (
            (government, (Item(rice, 200), Item(honey, 50))),
            (school, (Item(rice, 60),)),
            (enterprise, (Item(honey, 20),)),
            (union, (Item(rice, 15), Item(honey, 5))),
        )
        for n, (unit, items) in enumerate(purchases):
            scope = Scope(Channel.unit_subscription, unit_name=unit.name, unit_type=unit.unit_type, unit_id=unit.id)
            key = "demo-subscription" if n == 0 else f"demo-subscription-{n}"
            subscription = Ask(buyer=organizer, scope=scope, items=items, key=key, now=now)
            await place_batch(s, [subscription], BulkRules(), settings)
            assert subscription.result is not None, subscription.error
        await self._station_sales(organizer, eggs, honey, settings)

    async def _unit(self, admin: Principal, name: str, kind: str, budget_fen: int, county_id: int | None, *, parent: Any = None) -> Any:
        data = UnitCreate(
            name=name,
            unit_type=kind,  # type: ignore[arg-type]  # one of the literal unit types, spelled above
            annual_food_budget_fen=budget_fen,
            county_id=county_id,
            parent_unit_id=None if parent is None else parent.id,
        )
        return await assistance.create_unit(self.session, admin, data, self.now)

    async def _station_sales(self, seller: Principal, eggs: int, honey: int, settings: Settings) -> None:
        """Two over-the-counter sales at Wangtian's station: one long enough ago to be settled, one still pending."""
        s, now = self.session, self.now
        station_id = self._id(self.stations["wangtian"])
        for key, days_ago, items in (("demo-station-sale-1", 12, (Item(eggs, 6),)), ("demo-station-sale-2", 2, (Item(honey, 2),))):
            scope = Scope(Channel.physical, station_id=station_id)
            sale = Ask(buyer=seller, scope=scope, items=items, key=key, now=now - timedelta(days=days_ago))
            await place_batch(s, [sale], BulkRules(), settings)
            assert sale.result is not None, sale.error
        # What the settlement job would have done by now.
        for order_id in await settlement.due_order_ids(s, now=now, days=settings.settlement_days):
            await ledger.settle_sale(s, order_id, now=now, days=settings.settlement_days)

    @staticmethod
    def _id(row: Any) -> int:
        row_id = row.id
        assert isinstance(row_id, int)
        return row_id


def _demo_password_works(user: User) -> bool:
    return verify_password(user.password_hash, DEMO_PASSWORD)


async def load_demo(session: AsyncSession, *, now: datetime | None = None) -> list[Login]:
    """Add the demo's counties, households, products, anchors, users and broadcasts; return the sign-ins."""
    loader = _Loader(session, now or utcnow())
    await loader.master_data()
    logins = await loader.users()
    if await loader.schedule():
        await loader.commerce()
    await session.flush()
    return logins
