// Ask in a <dialog> before a destructive action. The link (data-confirm-dialog="id")
// leads to a confirmation page without JS; with JS the dialog's form posts to
// the link's address instead, and the page stays where it was.
(function () {
  "use strict";
  document.querySelectorAll("a[data-confirm-dialog]").forEach(function (link) {
    var dialog = document.getElementById(link.dataset.confirmDialog);
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    link.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.querySelector("form").action = link.href;
      dialog.querySelectorAll("[data-confirm-title]").forEach(function (el) {
        el.textContent = link.dataset.confirmTitle || "";
      });
      dialog.returnFocusTo = link;
      dialog.showModal();
    });
  });
  document.querySelectorAll("dialog [data-confirm-cancel]").forEach(function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });
  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      if (dialog.returnFocusTo) { dialog.returnFocusTo.focus(); }
    });
  });
})();
