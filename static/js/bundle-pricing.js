// A bundle page's live "what each author earns" (pricing.js runs the slider).
// Mirrors payments/bundle_pricing.py: the price split across the books by their
// weights (largest remainder), each part's royalty by the rule in data-rule, then
// split by co-author shares (largest remainder). Without JS the page shows the
// same figures for the amount it was asked about.
(function () {
  "use strict";
  var pricing = window.StorefrontPricing;

  function largestRemainder(total, weights) {
    var sum = weights.reduce(function (a, b) { return a + b; }, 0);
    var parts = weights.map(function (w) { return Math.floor((total * w) / sum); });
    var rest = weights.map(function (w, i) { return { i: i, r: (total * w) % sum }; });
    var left = total - parts.reduce(function (a, b) { return a + b; }, 0);
    rest.sort(function (a, b) { return b.r - a.r || a.i - b.i; });
    for (var k = 0; k < left; k++) parts[rest[k].i] += 1;
    return parts;
  }

  function earnings(cents, books, rule) {
    var byAuthor = {};
    var total = 0;
    var parts = largestRemainder(cents, books.map(function (b) { return b.weight; }));
    for (var i = 0; i < books.length; i++) {
      var royalty = pricing.royaltyCents(parts[i], rule);
      if (royalty === null) return null;
      total += royalty;
      var cuts = largestRemainder(royalty, books[i].authors.map(function (a) { return a.share; }));
      books[i].authors.forEach(function (a, j) { byAuthor[a.id] = (byAuthor[a.id] || 0) + cuts[j]; });
    }
    return { total: total, byAuthor: byAuthor };
  }

  function enhance(form) {
    var rule = JSON.parse(form.dataset.rule);
    var books = JSON.parse(form.dataset.split);
    var amount = form.querySelector('input[name="amount"]');
    var slider = form.querySelector(".price-slider");
    var total = form.querySelector("[data-author-earns]");
    var error = form.querySelector("[data-price-error]");
    form.querySelectorAll("[data-no-js-only]").forEach(function (el) { el.hidden = true; });

    function show() {
      var cents = pricing.toCents(amount.value);
      var result = cents === null || !error.hidden ? null : earnings(cents, books, rule);
      total.textContent = result ? pricing.formatCents(result.total) : "—";
      form.querySelectorAll("[data-author-id]").forEach(function (cell) {
        cell.textContent = result ? pricing.formatCents(result.byAuthor[cell.dataset.authorId] || 0) : "—";
      });
    }
    amount.addEventListener("input", show);
    slider.addEventListener("input", show);
    show();
  }

  if (pricing) document.querySelectorAll("form[data-bundle]").forEach(enhance);
})();
