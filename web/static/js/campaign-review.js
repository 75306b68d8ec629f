// A campaign's review: every stream ranked by gross, with each county's and host's totals.
import { api, boot, el, showError, yuan } from "./core.js";

const money = (fen) => `¥${yuan(fen)}`;
const percent = (bp) => `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, "0")}%`;

function fill(selector, rows, attrs = () => ({})) {
  document.querySelector(`${selector} tbody`).replaceChildren(
    ...rows.map((cells, i) => el("tr", attrs(i), ...cells.map(([content, cls]) => (typeof content === "string" ? el("td", { class: cls || null, text: content }) : el("td", { class: cls || null }, content))))),
  );
}

function render(review) {
  document.getElementById("campaign-name").textContent = review.name;
  document.getElementById("c-gmv").textContent = money(review.gmv_fen);
  document.getElementById("c-orders").textContent = String(review.paid_orders);
  document.getElementById("c-refunded").textContent = money(review.refunded_fen);
  document.getElementById("c-net").textContent = money(review.net_fen);
  document.getElementById("c-conversion").textContent = percent(review.conversion_bp);
  fill(
    "#campaign-streams",
    review.streams.map((s) => [
      [String(s.rank), "num rank"],
      [el("a", { href: `/reports/streams/${s.stream_id}`, text: s.title })],
      [s.host_names.join("、")],
      [money(s.gmv_fen), "num money"],
      [money(s.net_fen), "num money"],
      [String(s.paid_orders), "num"],
      [String(s.peak_viewers), "num"],
      [percent(s.conversion_bp), "num"],
    ]),
    (i) => ({ "data-stream-id": String(review.streams[i].stream_id) }),
  );
  fill("#campaign-counties", review.by_county.map((c) => [[c.name], [String(c.units), "num"], [money(c.gmv_fen), "num money"], [money(c.net_fen), "num money"]]));
  fill("#campaign-anchors", review.by_anchor.map((a) => [[a.name], [String(a.streams), "num"], [money(a.gmv_fen), "num money"], [money(a.net_fen), "num money"]]));
  document.body.dataset.reviewReady = "true";
}

document.getElementById("review-print").addEventListener("click", () => window.print());

try {
  render(await api("GET", `/api/campaigns/${boot.campaign.id}/review`));
} catch (error) {
  showError(document.getElementById("report-error"), error);
}
