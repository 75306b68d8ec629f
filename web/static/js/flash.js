// Flash deals on a stream's pages: the countdown in step with the server's clock, the units
// left as they go, "sold out" the moment it happens; for hosts and organizers, announce and end.
import { api, ApiError, boot, el, newKey, show, showError, t, yuan } from "./core.js";

const pad = (n) => String(n).padStart(2, "0");
const span = (ms) => {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
};

export class FlashDeals {
  constructor(streamId, products, { controls = false } = {}) {
    this.streamId = streamId;
    this.products = products;
    this.controls = controls;
    this.deals = new Map();
    this.offset = 0; // server clock minus ours, in ms
    this.orders = new Map(); // deal id -> the order this viewer placed in it
    this.panel = document.getElementById("flash-deals");
    this.list = document.getElementById("flash-list");
    this.timer = null;
  }

  async start() {
    const sent = Date.now();
    const page = await api("GET", `/api/streams/${this.streamId}/flash-deals`);
    const received = Date.now();
    // The server read its clock about halfway through the round trip.
    this.offset = Date.parse(page.server_time) - (sent + received) / 2;
    for (const deal of page.items) this.deals.set(deal.id, { ...deal, ended: deal.status === "ended" });
    this.render();
    this.timer = setInterval(() => this.tick(), 250);
    if (this.controls) this.bindForm();
    return this;
  }

  now() {
    return Date.now() + this.offset;
  }

  status(deal) {
    const now = this.now();
    if (deal.ended || now >= Date.parse(deal.ends_at)) return "ended";
    return now < Date.parse(deal.starts_at) ? "countdown" : "open";
  }

  apply(event) {
    const d = event.data || {};
    if (event.type.startsWith("flash.")) {
      const known = this.deals.get(d.deal_id) || {};
      this.deals.set(d.deal_id, {
        ...known,
        id: d.deal_id,
        product_id: d.product_id,
        price_fen: d.price_fen,
        quantity: d.quantity,
        remaining: d.remaining,
        starts_at: d.starts_at,
        ends_at: d.ends_at,
        per_buyer_limit: known.per_buyer_limit ?? 1,
        ended: event.type === "flash.ended",
      });
      if (event.type === "flash.announced") this.refreshLimit(d.deal_id);
      this.render();
    } else if (event.type === "stock.changed" && d.deal_id !== undefined && this.deals.has(d.deal_id)) {
      this.deals.get(d.deal_id).remaining = d.remaining;
      this.render();
    }
  }

  async refreshLimit(dealId) {
    try {
      const deal = await api("GET", `/api/flash-deals/${dealId}`);
      Object.assign(this.deals.get(dealId), { per_buyer_limit: deal.per_buyer_limit, remaining: deal.remaining });
      this.render();
    } catch {
      // The event already carried what the card needs; the limit shows once a later read works.
    }
  }

  visible() {
    // Running deals, newest first, and an ended one for a minute so its "sold out" stays in view.
    return [...this.deals.values()]
      .filter((d) => this.status(d) !== "ended" || this.now() - Date.parse(d.ends_at) < 60_000 || d.remaining === 0)
      .sort((a, b) => b.id - a.id)
      .slice(0, 3);
  }

  render() {
    const deals = this.visible();
    show(this.panel, deals.length > 0 || this.controls);
    this.list.replaceChildren(...deals.map((deal) => this.card(deal)));
  }

  card(deal) {
    const product = this.products.get(deal.product_id);
    const status = this.status(deal);
    const soldOut = deal.remaining <= 0;
    const node = el(
      "article",
      { class: `flash-card flash-${soldOut ? "sold-out" : status}`, "data-deal-id": deal.id },
      el("div", { class: "flash-name" }, el("b", { text: product?.name ?? `#${deal.product_id}` })),
      el(
        "div",
        { class: "flash-price" },
        el("b", { class: "money", text: `¥${yuan(deal.price_fen)}` }),
        product ? el("s", { text: `¥${yuan(product.price_fen)}` }) : "",
      ),
      el("p", { class: "flash-clock", "data-clock": "" }),
      el("p", { class: "flash-left", text: soldOut ? t("flash.sold_out") : t("flash.left", { n: deal.remaining, q: deal.quantity }) }),
    );
    const buy = el("button", { class: "button primary", type: "button", "data-flash-buy": deal.id, text: t("flash.buy") });
    buy.disabled = status !== "open" || soldOut;
    buy.addEventListener("click", () => this.buy(deal.id, buy));
    node.append(buy);
    const placed = this.orders.get(deal.id);
    if (placed) node.append(this.placedNote(placed));
    if (this.controls && status !== "ended") {
      const end = el("button", { class: "button danger small", type: "button", text: t("flash.end") });
      end.addEventListener("click", () => this.end(deal.id, end));
      node.append(end);
    }
    node.append(el("p", { class: "error", role: "alert", hidden: true }));
    this.fillClock(node, deal);
    return node;
  }

  fillClock(node, deal) {
    const status = this.status(deal);
    const clockNode = node.querySelector("[data-clock]");
    if (status === "countdown") clockNode.textContent = t("flash.starts_in", { t: span(Date.parse(deal.starts_at) - this.now()) });
    else if (status === "open") clockNode.textContent = t("flash.ends_in", { t: span(Date.parse(deal.ends_at) - this.now()) });
    else clockNode.textContent = t("flash.ended");
  }

  tick() {
    let changed = false;
    for (const node of this.list.querySelectorAll("[data-deal-id]")) {
      const deal = this.deals.get(Number(node.dataset.dealId));
      if (!deal) continue;
      const status = this.status(deal);
      const shown = node.className.match(/flash-(countdown|open|ended)/)?.[1];
      if (deal.remaining > 0 && shown !== status) changed = true;
      this.fillClock(node, deal);
    }
    if (changed) this.render();
  }

  placedNote(order) {
    const note = el("div", { class: "flash-placed" });
    if (order.status === "paid") {
      note.append(el("p", { text: t("flash.paid", { id: order.id }) }));
      return note;
    }
    const pay = el("button", { class: "button small", type: "button", text: t("flash.pay", { amount: `¥${yuan(order.total_fen)}` }) });
    pay.addEventListener("click", async () => {
      pay.disabled = true;
      try {
        const paid = await api("POST", `/api/orders/${order.id}/pay`);
        Object.assign(order, { status: paid.status });
        this.render();
      } catch (error) {
        pay.disabled = false;
        showError(note.closest(".flash-card")?.querySelector(".error"), error);
      }
    });
    note.append(el("p", { text: t("flash.placed", { id: order.id }) }), pay);
    return note;
  }

  async buy(dealId, button) {
    const deal = this.deals.get(dealId);
    const errorBox = button.closest(".flash-card")?.querySelector(".error");
    if (!boot.user) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      return;
    }
    button.disabled = true;
    button.dataset.key ??= newKey(); // a double tap or a retry returns the same order
    try {
      const order = await api("POST", `/api/streams/${this.streamId}/orders`, {
        json: { items: [{ product_id: deal.product_id, quantity: 1, flash_deal_id: dealId }] },
        headers: { "Idempotency-Key": button.dataset.key },
      });
      this.orders.set(dealId, order);
      this.render();
    } catch (error) {
      button.disabled = false;
      delete button.dataset.key;
      const soldOut = error.problem?.type?.includes("out-of-stock");
      showError(errorBox, soldOut ? new ApiError(409, { detail: t("flash.too_late") }) : error);
      if (soldOut) {
        deal.remaining = 0;
        this.render();
      }
    }
  }

  async end(dealId, button) {
    if (!confirm(t("flash.confirm_end"))) return;
    button.disabled = true;
    try {
      const deal = await api("POST", `/api/flash-deals/${dealId}/end`);
      this.deals.set(dealId, { ...deal, ended: true });
      this.render();
    } catch (error) {
      button.disabled = false;
      showError(button.closest(".flash-card")?.querySelector(".error"), error);
    }
  }

  bindForm() {
    const form = document.getElementById("flash-form");
    const errorBox = document.getElementById("flash-error");
    if (!form) return;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      // Yuan typed with at most two decimals, turned into fen by string arithmetic (no floats on money).
      const [whole, frac = ""] = String(f.get("price")).trim().split(".");
      if (!/^\d+$/.test(whole) || !/^\d{0,2}$/.test(frac)) {
        showError(errorBox, new ApiError(422, { detail: t("flash.bad_price") }));
        return;
      }
      const body = {
        product_id: Number(f.get("product_id")),
        price_fen: Number(whole) * 100 + Number(frac.padEnd(2, "0")),
        quantity: Number(f.get("quantity")),
        per_buyer_limit: Number(f.get("per_buyer_limit")),
        countdown_seconds: Number(f.get("countdown_seconds")),
        duration_seconds: Number(f.get("duration_minutes")) * 60,
      };
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const deal = await api("POST", `/api/streams/${this.streamId}/flash-deals`, { json: body });
        this.deals.set(deal.id, { ...deal, ended: false });
        showError(errorBox, null);
        this.render();
      } catch (error) {
        showError(errorBox, error);
      } finally {
        submit.disabled = false;
      }
    });
  }
}
