// carehub screens: the one script. The pages work without it; it only wires
// the print buttons (no inline handlers: the CSP allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
