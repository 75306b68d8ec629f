// An organizer's live view of one stream: GMV ticking, paid orders per minute, by product and
// county, households credited, stock levels. Figures come from the report API and the websocket.
import { api, boot, clock, t, tOf, yuan } from "./core.js";
import { FlashDeals } from "./flash.js";
import { ChatPanel } from "./chat.js";
import { LiveEvents } from "./live.js";
import { renderReport } from "./report-tables.js";

const streamId = boot.stream.id;
const MINUTE = 60_000;

// ---- orders per minute ----------------------------------------------------------------------
const perMinute = boot.per_minute.slice();
let lastMinute = new Date(boot.per_minute_end).getTime();
const labels = perMinute.map((_, i) => clock(new Date(lastMinute - (perMinute.length - 1 - i) * MINUTE).toISOString()));
const chart = new window.Chart(document.getElementById("per-minute"), {
  type: "bar",
  data: { labels, datasets: [{ label: t("dashboard.per_minute"), data: perMinute, backgroundColor: "#ea580c", borderRadius: 6, maxBarThickness: 22 }] },
  options: {
    responsive: true,
    maintainAspectRatio: false,
    animation: { duration: 300 },
    plugins: { legend: { display: false } },
    scales: { y: { beginAtZero: true, suggestedMax: 4, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 8 }, grid: { display: false } } },
  },
});

function countPaid(ts) {
  const at = new Date(ts).getTime();
  const minute = at - (at % MINUTE);
  while (minute > lastMinute) {
    lastMinute += MINUTE;
    chart.data.datasets[0].data.push(0);
    chart.data.labels.push(clock(new Date(lastMinute).toISOString()));
    if (chart.data.labels.length > 30) {
      chart.data.labels.shift();
      chart.data.datasets[0].data.shift();
    }
  }
  const data = chart.data.datasets[0].data;
  const index = data.length - 1 - Math.round((lastMinute - minute) / MINUTE);
  if (index >= 0) data[index] += 1;
  chart.update();
}

// ---- figures ---------------------------------------------------------------------------------
function setText(id, text) {
  const node = document.getElementById(id);
  if (node.textContent === text) return;
  node.textContent = text;
  node.classList.remove("tick-up");
  void node.offsetWidth;
  node.classList.add("tick-up");
}

function setSales(s) {
  setText("kpi-gmv", `¥${yuan(s.gmv_fen)}`);
  setText("kpi-orders", String(s.paid_orders));
  setText("kpi-units", String(s.units));
}

function setStock(d) {
  const row = document.querySelector(`#stock-table tr[data-product-id="${d.product_id}"]`);
  if (!row) return;
  row.querySelector('[data-field="stock"]').textContent = d.stock;
  row.querySelector('[data-field="reserved"]').textContent = d.reserved;
  const bar = row.querySelector("progress");
  bar.max = d.stock + d.reserved + d.sold;
  bar.value = d.stock;
}

let refreshTimer = null;
async function refreshReport() {
  try {
    const report = await api("GET", `/api/streams/${streamId}/report`);
    setSales({ gmv_fen: report.gmv_fen, paid_orders: report.paid_orders, units: report.units });
    setText("kpi-households", String((report.by_household || []).length));
    renderReport(report);
  } catch {
    // The live figures keep coming over the websocket; the tables catch up on the next change.
  }
}
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshReport, 250);
}

let chat = null;

function apply(event) {
  const d = event.data || {};
  if (event.type.startsWith("chat.")) {
    chat?.apply(event);
    return;
  }
  switch (event.type) {
    case "sales.updated":
      setSales(d);
      break;
    case "order.paid":
      countPaid(event.ts);
      scheduleRefresh();
      break;
    case "order.refunded":
      scheduleRefresh();
      break;
    case "stock.changed":
      setStock(d);
      break;
    case "viewers.updated":
      setText("kpi-viewers", String(d.count));
      break;
    case "stream.started":
    case "stream.ended": {
      const badge = document.querySelector("#status-badge .badge");
      const status = event.type === "stream.started" ? "live" : "ended";
      badge.className = `badge badge-${status}`;
      badge.textContent = tOf("status.", status);
      break;
    }
  }
}

refreshReport();
const connState = document.getElementById("conn-state");
const flash = new FlashDeals(streamId, new Map(boot.products.map((p) => [p.id, p])), { controls: boot.stream.status === "live" });
flash.start().catch(() => {});
window.lcLive = new LiveEvents(streamId, boot.live.last_seq, {
  onEvent: (event) => {
    flash.apply(event);
    apply(event);
  },
  onState: (state) => {
    connState.dataset.state = state;
    connState.textContent = state === "open" ? t("stream.connected") : state === "closed" ? t("stream.reconnecting") : "";
  },
});
chat = new ChatPanel(document.getElementById("chat"), streamId, window.lcLive, { moderate: true });
chat.load().then(() => window.lcLive.start());
