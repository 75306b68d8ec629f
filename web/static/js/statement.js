// The printable statement: the print button (inline handlers are refused by the page's policy).
const button = document.getElementById("statement-print");
if (button) button.addEventListener("click", () => window.print());
