// The pick list's print button (the page's print CSS does the rest).
document.querySelectorAll("[data-print]").forEach((el) => {
  el.addEventListener("click", (event) => {
    event.preventDefault();
    window.print();
  });
});
