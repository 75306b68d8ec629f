// The split editor: each share in yuan of a sample price, and the running total, as the user types.
// Progressive enhancement: without it the form still posts and the server checks the sum.
(function () {
  "use strict";
  const form = document.getElementById("product-form");
  if (!form) return;
  const sample = document.getElementById("sample-price");
  const price = document.getElementById("price");
  const total = document.getElementById("split-total");
  const totalYuan = document.getElementById("split-total-yuan");

  // Integer arithmetic: a typed decimal as hundredths (fen, or basis points), NaN if it is not one.
  function hundredths(text) {
    const m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(text || "");
    if (!m) return NaN;
    return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  }
  function yuan(fen) {
    return (fen / 100).toFixed(2);
  }
  function update() {
    const fen = hundredths(sample.value);
    let bpTotal = 0;
    form.querySelectorAll(".split-row").forEach(function (row) {
      const bp = hundredths(row.querySelector(".share").value);
      const out = row.querySelector(".share-yuan");
      if (isNaN(bp)) {
        out.textContent = "";
        return;
      }
      bpTotal += bp;
      out.textContent = isNaN(fen) ? "" : "¥" + yuan(Math.floor((fen * bp) / 10000));
    });
    total.textContent = (bpTotal / 100).toFixed(2).replace(/\.00$/, "") + "%";
    total.dataset.ok = String(bpTotal === 10000);
    totalYuan.textContent = isNaN(fen) ? "" : "¥" + yuan(Math.floor((fen * bpTotal) / 10000));
  }
  form.addEventListener("input", update);
  if (price) {
    price.addEventListener("input", function () {
      sample.value = price.value;
      update();
    });
  }
  update();
})();
