// Updates a build's progress in place; without JS the page refreshes itself.
(function () {
  "use strict";
  var box = document.querySelector("[data-build-status]");
  if (!box) return;
  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function poll() {
    fetch(box.dataset.buildStatus, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        field("status_display").textContent = data.status_display;
        field("percent").value = data.percent;
        field("message").textContent = data.message;
        if (data.error) {
          field("error").textContent = (data.error_source ? data.error_source + ": " : "") + data.error;
          field("error").hidden = false;
        }
        if (data.finished) {
          // The finished page has the links to the files, or "Try again": load it once.
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
