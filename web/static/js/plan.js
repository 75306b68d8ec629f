// A campaign plan: apply it (all or none) and read why not when the calendar changed meanwhile.
import { api, boot, el, t } from "./core.js";

const button = document.getElementById("plan-apply");
const result = document.getElementById("plan-result");

button?.addEventListener("click", async () => {
  button.disabled = true;
  try {
    await api("POST", `/api/campaigns/${boot.plan.campaign_id}/plans/${boot.plan.id}/apply`);
    result.replaceChildren(el("p", { class: "success", text: t("plan.applied") }));
    button.remove();
  } catch (error) {
    const conflicts = error.problem?.conflicts;
    if (error.status === 409 && Array.isArray(conflicts) && conflicts.length) {
      const items = conflicts.map((c) => el("li", { text: t("plan.conflict", { slot: String(c.planned_slot_id ?? c.slot_id ?? ""), detail: c.detail || c.kind }) }));
      result.replaceChildren(el("div", { class: "error" }, el("b", { text: t("plan.not_applied") }), el("ul", { class: "conflicts" }, ...items)));
    } else {
      result.replaceChildren(el("p", { class: "error", text: error.message || t("common.error") }));
    }
    button.disabled = false;
  }
});
