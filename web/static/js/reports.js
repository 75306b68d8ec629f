// Consumption statistics by county and by channel as charts, and the county statements.
import { api, boot, showError, t, tOf, yuan } from "./core.js";

const range = `from=${boot.from}&to=${boot.to}`;
const palette = ["#ea580c", "#65a30d", "#d97706", "#b45309", "#16a34a", "#f59e0b", "#9a3412", "#4d7c0f"];
// Bars are drawn in yuan, but the tooltip shows the exact fen carried alongside each dataset.
const money = { callbacks: { label: (ctx) => `${ctx.dataset.label || ctx.label}: ¥${yuan(ctx.dataset.fen[ctx.dataIndex])}` } };

// Chart geometry is in whole yuan; every figure shown as text is formatted from exact fen.
const toYuan = (fen) => Math.round(fen / 100);

async function countyChart() {
  const stats = await api("GET", `/api/stats/consumption?group_by=county&${range}`);
  const items = stats.items || [];
  new window.Chart(document.getElementById("chart-county"), {
    type: "bar",
    data: {
      labels: items.map((i) => i.name || i.key),
      datasets: [
        { label: t("dashboard.gmv"), data: items.map((i) => toYuan(i.net_fen)), fen: items.map((i) => i.net_fen), backgroundColor: "#ea580c", borderRadius: 6 },
        { label: t("dashboard.households"), data: items.map((i) => toYuan(i.net_household_fen)), fen: items.map((i) => i.net_household_fen), backgroundColor: "#65a30d", borderRadius: 6 },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, indexAxis: items.length > 6 ? "y" : "x", plugins: { tooltip: money } },
  });
}

async function channelChart() {
  const stats = await api("GET", `/api/stats/consumption?group_by=channel&${range}`);
  const items = stats.items || [];
  new window.Chart(document.getElementById("chart-channel"), {
    type: "doughnut",
    data: {
      labels: items.map((i) => tOf("channel.", i.channel || i.key)),
      datasets: [{ data: items.map((i) => toYuan(i.net_fen)), fen: items.map((i) => i.net_fen), backgroundColor: palette }],
    },
    options: { responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" }, tooltip: money } },
  });
}

async function statements() {
  for (const county of boot.counties) {
    const row = document.querySelector(`#statements tr[data-county-id="${county.id}"]`);
    try {
      const s = await api("GET", `/api/counties/${county.id}/statement?${range}`);
      row.querySelector('[data-field="gross"]').textContent = `¥${yuan(s.sales.net_fen)}`;
      row.querySelector('[data-field="household"]').textContent = `¥${yuan(s.sales.net_household_fen)}`;
      // What the households hold at the period's end: pending (orders not yet settled) and settled.
      const households = s.accounts.filter((a) => a.party.startsWith("household:"));
      const sum = (field) => households.reduce((total, a) => total + a[field], 0);
      row.querySelector('[data-field="pending"]').textContent = `¥${yuan(sum("closing_pending_fen"))}`;
      row.querySelector('[data-field="settled"]').textContent = `¥${yuan(sum("closing_settled_fen"))}`;
    } catch {
      row.querySelector('[data-field="gross"]').textContent = t("reports.unavailable");
    }
  }
}

const errorBox = document.getElementById("stats-error");
Promise.all([countyChart(), channelChart()]).catch((error) => showError(errorBox, error));
statements();
