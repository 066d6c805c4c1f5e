// Small enhancements for forms; every page works without them.
(function () {
  "use strict";
  // A button marked data-once can submit its form only once: a double click
  // cannot send a second request (the server is idempotent anyway).
  document.querySelectorAll("button[data-once]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
