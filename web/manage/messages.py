"""The back office's page texts in English and Chinese, merged into the site's catalogs by `web.i18n`."""

from __future__ import annotations

_AREAS = {
    "products": ("Products and stock", "商品与库存", "Prices, free stock and who each sale pays.", "价格、可售库存与每笔销售的分账。"),
    "households": ("Households", "农户", "The households whose produce is sold, and imports.", "供货农户及其导入。"),
    "stations": ("Service stations", "村级服务站", "Village e-commerce service stations.", "村级电商服务站。"),
    "anchors": ("Anchors", "主播", "Officials who host: availability and limits.", "带货干部：可排时间与上限。"),
    "studios": ("Studios", "直播间", "The rooms and channels that broadcast.", "直播间与直播渠道。"),
    "slots": ("Slots", "时段", "Studio time that can be booked.", "可预约的直播时段。"),
    "bookings": ("Bookings", "预约", "Confirm, move or cancel requested broadcasts.", "确认、改期或取消直播预约。"),
    "orders": ("Orders and refunds", "订单与退款", "Every order of your counties.", "本县全部订单。"),
    "refund-requests": ("Refund requests", "退款申请", "Approve or reject buyers' requests.", "审核买家的退款申请。"),
    "fulfillment": ("Fulfillment", "发货", "Pick lists and shipments.", "拣货单与发货。"),
    "units": ("Purchasing units", "采购单位", "Units and their quotas.", "预算单位及其采购额度。"),
    "subscriptions": ("Unit subscriptions", "单位认购", "Bulk purchases by units.", "单位批量认购。"),
    "station-sales": ("Station sales", "服务站销售", "Sales through physical channels.", "线下渠道销售。"),
    "users": ("Users and roles", "用户与角色", "Accounts and what they may do.", "账号及其权限。"),
    "audit": ("Audit log", "审计日志", "Every change, and the chain's check.", "全部变更记录及校验。"),
}
_WEEKDAYS = (
    ("Monday", "周一"),
    ("Tuesday", "周二"),
    ("Wednesday", "周三"),
    ("Thursday", "周四"),
    ("Friday", "周五"),
    ("Saturday", "周六"),
    ("Sunday", "周日"),
)
_BOOKING_STATUSES = {
    "requested": ("Requested", "待确认"),
    "confirmed": ("Confirmed", "已确认"),
    "live": ("Live", "直播中"),
    "ended": ("Ended", "已结束"),
    "cancelled": ("Cancelled", "已取消"),
    "no_show": ("No-show", "未开播"),
}
_TEXTS: dict[str, tuple[str, str]] = {
    "manage.title": ("Back office", "后台管理"),
    "manage.forbidden": ("This record belongs to a county you do not act for.", "该记录属于您无权管理的县。"),
    "manage.county": ("County", "县"),
    "manage.status": ("Status", "状态"),
    "manage.search": ("Search", "搜索"),
    "manage.filter": ("Filter", "筛选"),
    "manage.any": ("Any", "全部"),
    "manage.none": ("Nothing here yet.", "暂无记录。"),
    "manage.pages": ("Pages", "分页"),
    "manage.first_page": ("First page", "第一页"),
    "manage.next_page": ("Next page", "下一页"),
    "manage.name": ("Name", "名称"),
    "manage.village": ("Village", "村"),
    "manage.save": ("Save", "保存"),
    "manage.add": ("Add", "添加"),
    "manage.yes": ("Yes", "是"),
    "manage.when": ("When", "时间"),
    "manage.studio": ("Studio", "直播间"),
    "manage.error.yuan": (
        "Enter an amount in yuan with at most two decimals (e.g. 29.90).",
        "请输入以元为单位的金额，最多两位小数（如 29.90）。",
    ),
    "manage.error.whole_number": ("Enter a whole number, 0 or more.", "请输入不小于 0 的整数。"),
    "manage.error.missing": ("Fill this in.", "请填写此项。"),
    "manage.error.too_long": ("At most {max_length} characters.", "最多 {max_length} 个字符。"),
    "manage.error.too_small": ("Too small.", "数值过小。"),
    "manage.error.too_large": ("Too large.", "数值过大。"),
    "manage.error.time": ("Enter a date and a time (HH:MM).", "请输入日期和时间（时:分）。"),
    "manage.product.new": ("New product", "新增商品"),
    "manage.product.price": ("Price", "价格"),
    "manage.product.price_yuan": ("Price (yuan)", "价格（元）"),
    "manage.product.stock": ("Free", "可售"),
    "manage.product.stock_free": ("Free stock (units still free to order)", "可售库存（可下单的件数）"),
    "manage.product.reserved": ("Reserved", "待付款占用"),
    "manage.product.sold": ("Sold", "已售"),
    "manage.product.unit": ("Unit", "规格"),
    "manage.product.splits": ("Revenue splits", "收益分配"),
    "manage.product.description": ("Description", "介绍"),
    "manage.product.buckets": (
        "{stock} free · {reserved} reserved by unpaid orders · {sold} sold",
        "可售 {stock} · 待付款占用 {reserved} · 已售 {sold}",
    ),
    "manage.product.status.in_stock": ("In stock", "有货"),
    "manage.product.status.sold_out": ("Sold out", "已售罄"),
    "manage.product.status.inactive": ("Withdrawn", "已下架"),
    "manage.splits.help": (
        "Each party's share in percent; the shares must add up to exactly 100%.",
        "各方分成比例（%），合计必须正好为 100%。",
    ),
    "manage.splits.sample": ("Sample price (yuan)", "示例售价（元）"),
    "manage.splits.party": ("Party", "收益方"),
    "manage.splits.share": ("Share (%)", "比例（%）"),
    "manage.splits.yuan": ("Of the sample (yuan)", "示例金额（元）"),
    "manage.splits.total": ("Total", "合计"),
    "manage.splits.platform": ("Platform", "平台"),
    "manage.splits.sum": ("The shares add up to {total}%; they must add up to exactly 100%.", "各方比例合计为 {total}%，必须正好为 100%。"),
    "manage.splits.bad_row": (
        "Each row needs a party and a share in percent (at most two decimals).",
        "每一行都需要选择收益方并填写比例（最多两位小数）。",
    ),
    "manage.household.new": ("New household", "新增农户"),
    "manage.household.edit": ("Household", "农户"),
    "manage.household.monitored": ("Under anti-relapse monitoring", "防返贫监测户"),
    "manage.household.registration_no": ("Registration no.", "建档立卡编号"),
    "manage.household.status.monitored": ("Monitored", "监测户"),
    "manage.household.status.unmonitored": ("Not monitored", "非监测户"),
    "manage.import.households.note": (
        "Keep your households in a spreadsheet? Import them, with a dry run first.",
        "农户信息在表格里？可先试运行，再导入。",
    ),
    "manage.import.households.title": ("Import households", "导入农户"),
    "manage.import.households.help": (
        "An .xlsx or .csv file, one household a row; rows match on the registration number. Any bad row: nothing is imported.",
        "上传 .xlsx 或 .csv 文件，每行一户，按建档立卡编号匹配。任何一行有误则全部不导入。",
    ),
    "manage.import.households.checked": (
        "Checked: {created} would be created, {updated} updated; nothing was imported.",
        "检查通过：将新增 {created} 户，更新 {updated} 户；尚未导入。",
    ),
    "manage.import.households.done": (
        "Imported: {created} created, {updated} updated.",
        "导入完成：新增 {created} 户，更新 {updated} 户。",
    ),
    "manage.import.products.note": (
        "Keep your products in a spreadsheet? Import them with their prices, stock and splits, with a dry run first.",
        "商品信息在表格里？可连同价格、库存与分账一并导入，建议先试运行。",
    ),
    "manage.import.products.title": ("Import products", "导入商品"),
    "manage.import.products.help": (
        "An .xlsx or .csv file, one product a row; rows match on the county and name. Any bad row: nothing is imported.",
        "上传 .xlsx 或 .csv 文件，每行一种商品，按县和品名匹配。任何一行有误则全部不导入。",
    ),
    "manage.import.products.checked": (
        "Checked: {created} would be created, {updated} updated; nothing was imported.",
        "检查通过：将新增 {created} 种商品，更新 {updated} 种；尚未导入。",
    ),
    "manage.import.products.done": (
        "Imported: {created} created, {updated} updated.",
        "导入完成：新增 {created} 种商品，更新 {updated} 种。",
    ),
    "manage.import.template": ("Download the template", "下载模板"),
    "manage.import.file": ("File", "文件"),
    "manage.import.dry_run": ("Check only (dry run)", "仅检查（试运行）"),
    "manage.import.submit": ("Upload", "上传"),
    "manage.import.row": ("Row", "行"),
    "manage.import.column": ("Column", "列"),
    "manage.import.message": ("Problem", "问题"),
    "manage.import.no_file": ("Choose a file first.", "请先选择文件。"),
    "manage.station.new": ("New service station", "新增服务站"),
    "manage.anchor.new": ("New anchor", "新增主播"),
    "manage.anchor.title": ("Title", "职务"),
    "manage.anchor.availability": ("Weekly availability", "每周可排时间"),
    "manage.anchor.availability_help": (
        "No windows: available at any time. Times are local (HH:MM).",
        "不填时段即任何时间可排。时间为本地时间（时:分）。",
    ),
    "manage.anchor.weekday": ("Day", "星期"),
    "manage.anchor.from": ("From", "开始"),
    "manage.anchor.to": ("To", "结束"),
    "manage.anchor.limits": ("Booking limits", "排班上限"),
    "manage.anchor.per_week": ("Broadcasts per week (empty: the default)", "每周场次（留空：默认值）"),
    "manage.anchor.per_day": ("Air minutes per day (empty: the default)", "每日直播分钟（留空：默认值）"),
    "manage.anchor.effective": ("In force: {week} broadcasts a week, {day} minutes a day.", "当前生效：每周 {week} 场，每日 {day} 分钟。"),
    "manage.studio.new": ("New studio", "新增直播间"),
    "manage.studio.platform": ("Platform", "平台"),
    "manage.slot.new": ("New slot", "新增时段"),
    "manage.slot.day": ("Day", "日期"),
    "manage.slot.open": ("Open", "空闲"),
    "manage.slot.booked": ("Booked", "已预约"),
    "manage.booking.confirm": ("Confirm", "确认"),
    "manage.booking.cancel": ("Cancel", "取消"),
    "manage.booking.reschedule": ("Move", "改期"),
    "manage.booking.cancel_title": ("Cancel this booking?", "确定取消该预约？"),
    "manage.booking.cancel_warning": ("Its broadcast is cancelled too; this cannot be undone.", "对应的直播也将取消，且无法撤销。"),
    "manage.booking.cancel_yes": ("Yes, cancel the booking", "确定取消"),
    "manage.booking.keep": ("Keep it", "保留预约"),
    "manage.booking.new_slot": ("New slot", "新时段"),
    "manage.booking.no_open_slots": ("No open slots ahead.", "暂无可用的空闲时段。"),
    "manage.booking.override": ("Reason to book at short notice (organizers only)", "临时预约的理由（仅组织者）"),
    "manage.booking.reschedule_note": (
        "A moved booking asks its counties and co-hosts to agree again.",
        "改期后需各县及联合主播重新确认。",
    ),
    "manage.booking.move": ("Move the booking", "改期"),
    "manage.flash.product_created": ("The product was added.", "商品已添加。"),
    "manage.flash.product_saved": ("The product was saved.", "商品已保存。"),
    "manage.flash.household_created": ("The household was registered.", "农户已登记。"),
    "manage.flash.household_saved": ("The household was saved.", "农户信息已保存。"),
    "manage.flash.station_created": ("The service station was added.", "服务站已添加。"),
    "manage.flash.anchor_created": ("The anchor was added.", "主播已添加。"),
    "manage.flash.availability_saved": ("The availability was saved.", "可排时间已保存。"),
    "manage.flash.limits_saved": ("The limits were saved.", "排班上限已保存。"),
    "manage.flash.studio_created": ("The studio was added.", "直播间已添加。"),
    "manage.flash.slot_created": ("The slot was added.", "时段已添加。"),
    "manage.flash.booking_confirmed": ("The booking is confirmed.", "预约已确认。"),
    "manage.flash.booking_approved": ("Agreed for your counties; the booking waits for the others.", "已代表本县同意，等待其他方确认。"),
    "manage.flash.booking_cancelled": ("The booking and its broadcast were cancelled.", "预约及其直播已取消。"),
    "manage.flash.booking_rescheduled": ("The booking was moved; it waits for confirmation again.", "预约已改期，等待重新确认。"),
}


def _catalog() -> dict[str, dict[str, str]]:
    en: dict[str, str] = {}
    zh: dict[str, str] = {}
    for key, (en_text, zh_text) in _TEXTS.items():
        en[key], zh[key] = en_text, zh_text
    for area, (en_name, zh_name, en_about, zh_about) in _AREAS.items():
        en[f"manage.area.{area}"], zh[f"manage.area.{area}"] = en_name, zh_name
        en[f"manage.about.{area}"], zh[f"manage.about.{area}"] = en_about, zh_about
    for day, (en_day, zh_day) in enumerate(_WEEKDAYS):
        en[f"manage.weekday.{day}"], zh[f"manage.weekday.{day}"] = en_day, zh_day
    for status, (en_status, zh_status) in _BOOKING_STATUSES.items():
        en[f"manage.booking.status.{status}"], zh[f"manage.booking.status.{status}"] = en_status, zh_status
    return {"en": en, "zh-CN": zh}


MANAGE_MESSAGES = _catalog()
