// The post-stream review page: the timeline with its moments, the funnel, top products and the
// comparison, from GET /api/streams/{id}/review; staff also get the report's breakdown tables.
import { api, boot, clock, el, showError, t, tOf, yuan } from "./core.js";
import { renderReport } from "./report-tables.js";

const streamId = boot.stream.id;
const money = (fen) => `¥${yuan(fen)}`;
const percent = (bp) => `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, "0")}%`;
const MOMENT_COLORS = { "product.pinned": "#2563eb", "flash.announced": "#a855f7", "flash.started": "#dc2626", "flash.ended": "#64748b" };

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map(([text, cls]) => el("td", { class: cls || null, text })))));
}

// Dashed vertical lines at each moment's minute, drawn over the bars (no plugin dependency).
const momentLines = (moments) => ({
  id: "moments",
  afterDatasetsDraw(chart) {
    const { ctx, chartArea, scales } = chart;
    for (const m of moments) {
      const x = scales.x.getPixelForValue(m.minute);
      if (!Number.isFinite(x)) continue;
      ctx.save();
      ctx.strokeStyle = MOMENT_COLORS[m.type] || "#334155";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.restore();
    }
  },
});

function drawTimeline(review) {
  const labels = review.timeline.map((m) => clock(m.at));
  const moments = review.moments;
  const marks = review.timeline.map((m) => (moments.some((x) => x.minute === m.minute) ? 0 : null));
  new window.Chart(document.getElementById("review-timeline"), {
    data: {
      labels,
      datasets: [
        { type: "bar", label: t("review.gmv_per_minute"), data: review.timeline.map((m) => m.gmv_fen / 100), backgroundColor: "#ea580c", yAxisID: "y", borderRadius: 4, maxBarThickness: 18 },
        { type: "line", label: t("review.viewers"), data: review.timeline.map((m) => m.viewers), borderColor: "#0f766e", backgroundColor: "#0f766e", yAxisID: "viewers", stepped: true, pointRadius: 2 },
        { type: "line", label: t("review.moments"), data: marks, yAxisID: "y", showLine: false, pointStyle: "triangle", pointRadius: 7, backgroundColor: "#2563eb" },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        tooltip: {
          callbacks: {
            afterBody: (items) => {
              const minute = items[0]?.dataIndex;
              return moments.filter((m) => m.minute === minute).map((m) => `${tOf("review.moment.", m.type)}${m.product_id ? ` · ${productName(review, m.product_id)}` : ""}`);
            },
          },
        },
      },
      scales: {
        y: { beginAtZero: true, title: { display: true, text: t("review.gmv_per_minute") } },
        viewers: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { precision: 0 }, title: { display: true, text: t("review.viewers") } },
        x: { ticks: { maxTicksLimit: 12 }, grid: { display: false } },
      },
    },
    plugins: [momentLines(moments)],
  });
}

function productName(review, productId) {
  return review.top_products.find((p) => p.product_id === productId)?.name || boot.products?.[productId] || `#${productId}`;
}

function drawFunnel(review) {
  const steps = [
    ["review.unique_viewers", review.funnel.unique_viewers],
    ["review.ordering_buyers", review.funnel.ordering_buyers],
    ["review.buyers", review.funnel.buyers],
  ];
  const top = Math.max(1, ...steps.map(([, n]) => n));
  document.getElementById("review-funnel").replaceChildren(
    ...steps.map(([key, n]) => el("li", { "data-step": key.split(".")[1] }, el("span", { text: t(key) }), el("span", { class: "bar", style: null }), el("b", { text: String(n) }))),
  );
  document.querySelectorAll("#review-funnel .bar").forEach((bar, i) => {
    bar.style.width = `${Math.round((steps[i][1] / top) * 100)}%`;
  });
}

function drawComparison(review) {
  const c = review.compared_to;
  const row = (label, fen, streams) => [[label], [fen === null ? "—" : money(fen), "num money"], [streams === null ? "" : String(streams), "num"]];
  fill(document.querySelector("#review-compare tbody"), [
    row(t("review.this_stream"), review.gmv_fen, null),
    row(t("review.county_median"), c.county_median_gmv_fen, c.county_streams),
    row(t("review.campaign_median"), c.campaign_median_gmv_fen, c.campaign_streams),
  ]);
  if (c.campaign_id !== null && boot.user?.role !== "cadre") {
    const link = document.getElementById("review-campaign-link");
    link.querySelector("a").href = `/reports/campaigns/${c.campaign_id}`;
    link.hidden = false;
  }
}

function render(review) {
  setText("r-gmv", money(review.gmv_fen));
  setText("r-orders", String(review.paid_orders));
  setText("r-units", String(review.units));
  setText("r-refunded", money(review.refunded_fen));
  setText("r-net", money(review.net_fen));
  setText("rv-peak", String(review.peak_viewers));
  setText("rv-unique", String(review.unique_viewers));
  setText("rv-buyers", String(review.buyers));
  setText("rv-conversion", percent(review.conversion_bp));
  setText("rv-county-median", review.compared_to.county_median_gmv_fen === null ? "—" : money(review.compared_to.county_median_gmv_fen));
  drawTimeline(review);
  drawFunnel(review);
  drawComparison(review);
  fill(
    document.querySelector("#review-products tbody"),
    review.top_products.map((p) => [[p.name], [String(p.units), "num"], [money(p.gmv_fen), "num money"], [money(p.refunded_fen), "num money"], [money(p.net_fen), "num money"]]),
  );
  const start = review.started_at ? new Date(review.started_at).getTime() : null;
  fill(
    document.querySelector("#review-moments tbody"),
    review.moments.map((m) => {
      const offset = start === null ? "" : ` (+${Math.max(0, Math.floor((new Date(m.at).getTime() - start) / 60000))}′)`;
      return [[`${clock(m.at)}${offset}`], [tOf("review.moment.", m.type)], [m.product_id ? productName(review, m.product_id) : ""]];
    }),
  );
  document.body.dataset.reviewReady = "true";
}

document.getElementById("review-print").addEventListener("click", () => window.print());

try {
  render(await api("GET", `/api/streams/${streamId}/review`));
  if (boot.user && ["admin", "organizer"].includes(boot.user.role)) renderReport(await api("GET", `/api/streams/${streamId}/report`));
} catch (error) {
  showError(document.getElementById("report-error"), error);
}
