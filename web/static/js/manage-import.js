// An import form (households or products): posts the file to the API named by the form's data-endpoint (signed in by the page's cookie, with the
// X-Requested-With header the API asks of cookie-authenticated changes) and shows the result or each bad row;
// data-checked and data-done are the page's summary texts, with {created} and {updated} filled in here.
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form) return;
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const m = boot.messages;
  const result = document.getElementById("import-result");
  const summary = document.getElementById("import-summary");
  const table = document.getElementById("import-errors");
  const fileError = document.getElementById("error-file");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return String(values[k]); });
  }
  function showRows(errors) {
    const body = table.querySelector("tbody");
    body.replaceChildren();
    errors.forEach(function (e) {
      const tr = document.createElement("tr");
      [e.row, e.column, e.message].forEach(function (v, i) {
        const td = document.createElement("td");
        if (i === 0) td.className = "num";
        td.textContent = v == null ? "" : String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.hidden = errors.length === 0;
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    fileError.hidden = true;
    const file = document.getElementById("import-file").files[0];
    if (!file) {
      fileError.textContent = m["manage.import.no_file"];
      fileError.hidden = false;
      return;
    }
    const dryRun = document.getElementById("dry-run").checked;
    const data = new FormData();
    data.append("file", file);
    const response = await fetch(form.dataset.endpoint + "?dry_run=" + dryRun, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept-Language": boot.lang },
    });
    const body = await response.json().catch(function () { return {}; });
    result.hidden = false;
    if (response.ok) {
      summary.className = "success";
      summary.textContent = fill(dryRun ? form.dataset.checked : form.dataset.done, { created: body.created, updated: body.updated });
      showRows([]);
    } else {
      summary.className = "error";
      summary.textContent = body.detail || m["common.error"];
      showRows(Array.isArray(body.errors) ? body.errors.filter(function (e) { return e && e.row != null; }) : []);
    }
  });
})();
