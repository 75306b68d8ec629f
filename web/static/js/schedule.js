// The cadre's calendar: pick an open slot, book it, and read any clash in plain words.
import { api, boot, clock, el, t, tOf, when } from "./core.js";

const panel = document.getElementById("booking-panel");
const form = document.getElementById("booking-form");
const result = document.getElementById("booking-result");
const anchors = boot.anchors || {};
const studios = boot.studios || {};

function select(button) {
  for (const b of document.querySelectorAll(".slot.selected")) b.classList.remove("selected");
  button.classList.add("selected");
  form.elements.slot_id.value = button.dataset.slotId;
  document.getElementById("booking-slot-label").textContent = button.dataset.label;
  result.replaceChildren();
  panel.hidden = false;
  panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

for (const b of document.querySelectorAll(".slot.open")) b.addEventListener("click", () => select(b));

// Any anchor may be invited as a co-host, across counties too: their organizers then have to agree.
async function loadCohosts() {
  const box = document.getElementById("cohosts");
  if (!box) return;
  let cursor = null;
  const found = [];
  do {
    const page = await api("GET", `/api/anchors?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    found.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && found.length < 500);
  const host = () => Number(form.elements.anchor_id.value);
  for (const a of found) {
    const input = el("input", { type: "checkbox", name: "cohost_id", value: String(a.id) });
    const label = el("label", { "data-anchor-id": String(a.id) }, input, ` ${a.name} · ${a.title}`);
    label.hidden = a.id === host();
    box.append(label);
  }
  form.elements.anchor_id.addEventListener?.("change", () => {
    for (const label of box.querySelectorAll("label")) label.hidden = Number(label.dataset.anchorId) === host();
  });
}
loadCohosts().catch(() => {});

function sameDay(a, b) {
  return new Date(a).toDateString() === new Date(b).toDateString();
}

// One sentence per clash, in the reader's language, from the API's 409 `conflicts` list.
export function describe(conflict) {
  const start = conflict.starts_at ? when(conflict.starts_at) : "";
  const end = conflict.ends_at ? (sameDay(conflict.starts_at, conflict.ends_at) ? clock(conflict.ends_at) : when(conflict.ends_at)) : "";
  const who = anchors[conflict.anchor_id] || t("schedule.unknown_anchor");
  switch (conflict.kind) {
    case "anchor":
      return t("conflict.anchor", { who, start, end });
    case "studio":
      return t("conflict.studio", { who: studios[conflict.studio_id] || `#${conflict.studio_id ?? ""}`, start, end });
    case "studio_county":
      return t("conflict.studio_county", { who: studios[conflict.studio_id] || `#${conflict.studio_id ?? ""}` });
    case "availability":
    case "weekly_limit":
    case "daily_limit":
      return tOf("conflict.", conflict.kind, { who });
    case "notice":
      return t("conflict.notice", { detail: conflict.detail || "" });
    default:
      return conflict.detail || t("conflict.generic", { start, end });
  }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const productIds = [...form.querySelectorAll("input[name=product_id]:checked")].map((i) => Number(i.value));
  try {
    // The host first; co-hosts after it are invited and confirm by accepting.
    const host = Number(form.elements.anchor_id.value);
    const cohosts = [...form.querySelectorAll("input[name=cohost_id]:checked")].map((i) => Number(i.value)).filter((id) => id !== host);
    const booking = await api("POST", "/api/bookings", {
      json: { slot_id: Number(form.elements.slot_id.value), anchor_ids: [host, ...cohosts], product_ids: productIds },
    });
    const invited = booking.cohosts?.length ? ` ${t("schedule.invited", { count: booking.cohosts.length })}` : "";
    result.replaceChildren(el("p", { class: "success", text: t("schedule.booked") + invited }));
    const slot = document.querySelector(`.slot[data-slot-id="${booking.slot_id ?? form.elements.slot_id.value}"]`);
    if (slot) {
      slot.className = "slot mine";
      slot.disabled = true;
    }
  } catch (error) {
    const conflicts = error.problem?.conflicts;
    if (error.status === 409 && Array.isArray(conflicts) && conflicts.length) {
      result.replaceChildren(
        el("div", { class: "error" }, el("b", { text: t("schedule.conflicts") }), el("ul", { class: "conflicts" }, ...conflicts.map((c) => el("li", { text: describe(c) })))),
      );
    } else {
      result.replaceChildren(el("p", { class: "error", text: error.message || t("common.error") }));
    }
  } finally {
    button.disabled = false;
  }
});

const copy = document.getElementById("ical-copy");
copy?.addEventListener("click", async () => {
  const input = document.getElementById("ical-url");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand("copy");
  }
  copy.textContent = t("schedule.copied");
});
