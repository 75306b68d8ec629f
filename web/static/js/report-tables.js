// Tables of a stream report (by product, by county, households credited), shared by the
// live dashboard and the report page.
import { el, yuan } from "./core.js";

function rows(tbody, items, cells) {
  tbody.replaceChildren(...items.map((item) => el("tr", {}, ...cells(item).map(([text, cls]) => el("td", { class: cls || null, text })))));
}

export function renderReport(report) {
  const byProduct = document.querySelector("#by-product tbody");
  const byCounty = document.querySelector("#by-county tbody");
  const byHousehold = document.querySelector("#by-household tbody");
  if (byProduct) rows(byProduct, report.by_product || [], (p) => [[p.name], [String(p.net_units ?? p.units), "num"], [`¥${yuan(p.net_fen ?? p.gross_fen)}`, "num money"]]);
  if (byCounty) rows(byCounty, report.by_county || [], (c) => [[c.name], [String(c.units), "num"], [`¥${yuan(c.net_fen ?? c.gross_fen)}`, "num money"]]);
  if (byHousehold) rows(byHousehold, report.by_household || [], (h) => [[h.name], [`¥${yuan(h.net_fen ?? h.credited_fen)}`, "num money"]]);
}
