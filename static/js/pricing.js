// The price slider and the live "Author earns" figure on the book page.
// The page works without this file (the number input posts the amount); this
// only mirrors the royalty rule of payments/royalties.py, whose numbers arrive
// in data-rule. tests/e2e/test_book_page.py checks both agree at the edges.
(function () {
  "use strict";

  function royaltyCents(priceCents, rule) {
    if (priceCents === 0) return 0;
    if (priceCents < rule.min_paid_cents) return null; // not a valid price
    // rate% of the price, rounded half up, in integer arithmetic (no float money).
    var royalty = Math.floor((rule.rate_percent * priceCents + 50) / 100);
    if (priceCents < rule.fee_below_cents) royalty -= rule.fee_cents;
    return royalty;
  }

  function toCents(text) {
    var match = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(text);
    if (!match) return null;
    var cents = (match[2] || "0").padEnd(2, "0");
    return parseInt(match[1], 10) * 100 + parseInt(cents, 10);
  }

  function formatCents(cents) {
    var dollars = Math.floor(cents / 100).toLocaleString("en-US");
    return "$" + dollars + "." + String(cents % 100).padStart(2, "0");
  }

  function enhance(form) {
    var rule = JSON.parse(form.dataset.rule);
    var slider = form.querySelector(".price-slider");
    var amount = form.querySelector('input[name="amount"]');
    var earns = form.querySelector("[data-author-earns]");
    var error = form.querySelector("[data-price-error]");
    var minimum = toCents(amount.min);
    var maximum = toCents(amount.max);

    function show(cents) {
      var problem = null;
      if (cents === null) problem = "Enter a price like 24.99.";
      else if (cents < minimum) problem = "The minimum price is " + formatCents(minimum) + ".";
      else if (cents > maximum) problem = "The most you can pay here is " + formatCents(maximum) + ".";
      var royalty = problem ? null : royaltyCents(cents, rule);
      if (!problem && royalty === null) problem = "Pay $0 or at least " + formatCents(rule.min_paid_cents) + ".";
      error.hidden = !problem;
      error.textContent = problem || "";
      earns.textContent = royalty === null ? "—" : formatCents(royalty);
    }

    slider.hidden = false;
    slider.addEventListener("input", function () {
      var cents = toCents(slider.value) ?? Math.round(Number(slider.value) * 100);
      amount.value = (cents / 100).toFixed(2);
      show(cents);
    });
    amount.addEventListener("input", function () {
      var cents = toCents(amount.value);
      if (cents !== null) slider.value = (cents / 100).toFixed(2);
      show(cents);
    });
    show(toCents(amount.value));
  }

  function enhanceCopy(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copyLink).then(function () {
        button.textContent = "Link copied";
      });
    });
  }

  // Shared with static/js/bundle-pricing.js (a bundle page's per-author figures).
  window.StorefrontPricing = { royaltyCents: royaltyCents, toCents: toCents, formatCents: formatCents };

  document.querySelectorAll("form[data-pricing]").forEach(enhance);
  document.querySelectorAll("[data-copy-link]").forEach(enhanceCopy);
})();
