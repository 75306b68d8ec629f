// The viewer's stream page: live orders, sales counter, viewers, pinned product, the buy flow
// and (for its hosts and organizers) the studio controls.
import { api, ApiError, boot, clock, el, newKey, register, show, showError, signIn, t, tOf, yuan } from "./core.js";
import { FlashDeals } from "./flash.js";
import { ChatPanel } from "./chat.js";
import { LiveEvents } from "./live.js";
import { showBroadcast } from "./player.js";

const streamId = boot.stream.id;
const products = new Map(boot.products.map((p) => [p.id, p]));
let status = boot.stream.status;
const TICKER_MAX = 20;

// ---- ticker, counters, stock ---------------------------------------------------------------

const ticker = document.getElementById("ticker");

function tickerItem(event) {
  const d = event.data || {};
  const items = (d.items || []).map((i) => `${products.get(i.product_id)?.name ?? "#" + i.product_id} × ${i.quantity}`).join("、");
  const verb = event.type === "order.paid" ? t("stream.paid") : t("stream.ordered");
  return el(
    "li",
    { class: `tick tick-${event.type.replace(".", "-")}`, "data-order-id": d.order_id },
    el("span", { class: "avatar small", text: (d.buyer || "*").slice(0, 1) }),
    el("span", { class: "tick-text" }, el("b", { text: d.buyer || "*" }), ` ${verb} `, items || `¥${yuan(d.total_fen)}`),
    el("time", { datetime: event.ts, text: clock(event.ts) }),
  );
}

function addTick(event, animate = true) {
  const node = tickerItem(event);
  if (animate) node.classList.add("fresh");
  ticker.prepend(node);
  while (ticker.children.length > TICKER_MAX) ticker.lastElementChild.remove();
  show(document.getElementById("ticker-empty"), false);
}

function setSales(s) {
  document.getElementById("sales-gmv").textContent = `¥${yuan(s.gmv_fen)}`;
  document.getElementById("sales-orders").textContent = s.paid_orders;
  document.getElementById("sales-units").textContent = s.units;
  const strip = document.querySelector(".sales-strip");
  strip.classList.remove("bump");
  void strip.offsetWidth;
  strip.classList.add("bump");
}

function setStock(d) {
  const p = products.get(d.product_id);
  if (p) Object.assign(p, { stock: d.stock, reserved: d.reserved, sold: d.sold });
  for (const node of document.querySelectorAll(`[data-stock-for="${d.product_id}"]`)) {
    node.textContent = d.stock > 0 ? t("stream.stock_left", { n: d.stock }) : t("stream.sold_out");
  }
  refreshBuyButtons();
}

function refreshBuyButtons() {
  for (const b of document.querySelectorAll("[data-buy]")) {
    const p = products.get(Number(b.dataset.buy));
    b.disabled = status !== "live" || !p || p.stock <= 0;
  }
}

function setPinned(d) {
  const body = document.getElementById("pinned-body");
  const source = document.querySelector(`#product-list [data-product-id="${d.product_id}"]`);
  if (!source) return;
  const copy = source.cloneNode(true);
  copy.classList.replace("product-sm", "product-lg");
  copy.querySelector(".art")?.classList.replace("art-sm", "art-lg");
  body.replaceChildren(copy);
  copy.querySelector("[data-buy]")?.addEventListener("click", () => openBuy(d.product_id));
  const select = document.getElementById("pin-select");
  if (select) select.value = String(d.product_id);
}

function setStatus(next) {
  status = next;
  document.getElementById("stream").dataset.status = next;
  const badge = document.querySelector("#status-badge .badge");
  if (badge) {
    badge.className = `badge badge-${next}`;
    badge.textContent = tOf("status.", next);
    if (next === "live") badge.prepend(el("i", { class: "dot" }));
  }
  show(document.getElementById("go-live"), next === "scheduled");
  show(document.getElementById("end-stream"), next === "live");
  show(document.getElementById("pin-form"), next === "live");
  refreshBuyButtons();
}

const flash = new FlashDeals(streamId, products, { controls: Boolean(boot.controls) });
flash.start().catch(() => {}); // the page works without deals if the list cannot be read
window.lcFlash = flash;
let chat = null;

function apply(event) {
  const d = event.data || {};
  flash.apply(event);
  if (event.type.startsWith("chat.")) {
    chat?.apply(event);
    return;
  }
  switch (event.type) {
    case "order.placed":
    case "order.paid":
      addTick(event);
      break;
    case "sales.updated":
      setSales(d);
      break;
    case "viewers.updated":
      document.getElementById("viewer-count").textContent = d.count;
      break;
    case "stock.changed":
      setStock(d);
      break;
    case "product.pinned":
      setPinned(d);
      break;
    case "stream.started":
      setStatus("live");
      break;
    case "stream.ended":
      setStatus("ended");
      break;
  }
}

for (const event of boot.live.ticker) addTick(event, false);
const connState = document.getElementById("conn-state");
const live = new LiveEvents(streamId, boot.live.last_seq, {
  onEvent: apply,
  onState: (state) => {
    connState.dataset.state = state;
    connState.textContent = state === "open" ? t("stream.connected") : state === "closed" ? t("stream.reconnecting") : "";
  },
});
chat = new ChatPanel(document.getElementById("chat"), streamId, live, { moderate: Boolean(boot.controls) });
chat.load().then(() => live.start());
window.lcLive = live;
// hls.js is a classic deferred script: it has run before this module (modules are deferred too, and in order).
showBroadcast(streamId).then((shown) => {
  window.lcPlayer = shown;
});

// ---- buy flow --------------------------------------------------------------------------------

const dialog = document.getElementById("buy-dialog");
const errorBox = document.getElementById("buy-error");
const qtyInput = document.getElementById("buy-qty");
let buying = null; // {product, key, order}

function step(name) {
  for (const s of dialog.querySelectorAll(".buy-step")) s.hidden = s.dataset.step !== name;
  showError(errorBox, null);
}

function maxQuantity() {
  return Math.max(1, Math.min(buying.product.stock, 20));
}

function updateTotal() {
  let q = Math.floor(Number(qtyInput.value) || 1);
  q = Math.min(Math.max(q, 1), maxQuantity());
  qtyInput.value = q;
  qtyInput.max = maxQuantity();
  // Integer fen times an integer quantity: exact.
  document.getElementById("buy-total").textContent = `¥${yuan(buying.product.price_fen * q)}`;
  buying.key = null; // a new quantity is a new order
}

function openBuy(productId) {
  const product = products.get(productId);
  if (!product) return;
  buying = { product, key: null, order: null };
  document.getElementById("buy-title").textContent = t("buy.title", { name: product.name });
  qtyInput.value = 1;
  step(boot.user ? "quantity" : "auth");
  if (boot.user) updateTotal();
  dialog.showModal();
}

async function afterSignIn(promise) {
  try {
    await promise;
    step("quantity");
    updateTotal();
  } catch (error) {
    showError(errorBox, error.status === 401 ? new ApiError(401, { detail: t("login.failed") }) : error);
  }
}

document.getElementById("buy-login").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  afterSignIn(signIn(f.get("username"), f.get("password")));
});
document.getElementById("buy-register").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  afterSignIn(register(f.get("username"), f.get("password"), f.get("display_name")));
});
for (const b of dialog.querySelectorAll("[data-q]")) {
  b.addEventListener("click", () => {
    qtyInput.value = Number(qtyInput.value) + Number(b.dataset.q);
    updateTotal();
  });
}
qtyInput.addEventListener("change", updateTotal);

document.getElementById("buy-place").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  // The same key on a retry (double tap, flaky network) returns the same order.
  buying.key ??= newKey();
  try {
    const order = await api("POST", `/api/streams/${streamId}/orders`, {
      json: { items: [{ product_id: buying.product.id, quantity: Number(qtyInput.value) }] },
      headers: { "Idempotency-Key": buying.key },
    });
    buying.order = order;
    document.getElementById("buy-placed").textContent = t("buy.placed", { id: order.id, until: order.expires_at ? clock(order.expires_at) : "" });
    document.getElementById("buy-pay").textContent = t("buy.pay", { amount: `¥${yuan(order.total_fen)}` });
    step("pay");
  } catch (error) {
    if (error.status === 401) {
      boot.user = null;
      step("auth");
    } else if (error.problem?.type?.includes("out-of-stock")) {
      showError(errorBox, new ApiError(409, { detail: t("buy.out_of_stock") }));
    } else {
      showError(errorBox, error);
    }
  } finally {
    button.disabled = false;
  }
});

document.getElementById("buy-pay").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    await api("POST", `/api/orders/${buying.order.id}/pay`);
    document.getElementById("buy-done").textContent = t("buy.paid", { id: buying.order.id });
    step("done");
  } catch (error) {
    showError(errorBox, error);
  } finally {
    button.disabled = false;
  }
});

for (const b of document.querySelectorAll("[data-buy]")) b.addEventListener("click", () => openBuy(Number(b.dataset.buy)));

// ---- studio controls (hosts and organizers) ---------------------------------------------------

if (boot.controls) {
  const controlError = document.getElementById("control-error");
  const act = async (button, path, json) => {
    button.disabled = true;
    try {
      const stream = await api("POST", path, json === undefined ? {} : { json });
      if (stream?.status) setStatus(stream.status);
      showError(controlError, null);
    } catch (error) {
      showError(controlError, error);
    } finally {
      button.disabled = false;
    }
  };
  document.getElementById("go-live").addEventListener("click", (e) => act(e.currentTarget, `/api/streams/${streamId}/start`));
  document.getElementById("end-stream").addEventListener("click", (e) => {
    if (confirm(t("control.confirm_end"))) act(e.currentTarget, `/api/streams/${streamId}/end`);
  });
  document.getElementById("pin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const productId = Number(document.getElementById("pin-select").value);
    act(e.submitter || e.target.querySelector("button"), `/api/streams/${streamId}/pin`, { product_id: productId });
  });
}
