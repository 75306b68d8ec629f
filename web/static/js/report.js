// One stream's report page.
import { api, boot, showError, yuan } from "./core.js";
import { renderReport } from "./report-tables.js";

try {
  const r = await api("GET", `/api/streams/${boot.stream.id}/report`);
  document.getElementById("r-gmv").textContent = `¥${yuan(r.gmv_fen)}`;
  document.getElementById("r-orders").textContent = r.paid_orders;
  document.getElementById("r-units").textContent = r.units;
  document.getElementById("r-refunded").textContent = `¥${yuan(r.refunded_fen)}`;
  document.getElementById("r-net").textContent = `¥${yuan(r.net_fen)}`;
  renderReport(r);
} catch (error) {
  showError(document.getElementById("report-error"), error);
}
