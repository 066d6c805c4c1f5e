// Stripe's Payment Element on the cart page, deferred-intent flow (payments/cart_intent_views.py).
// The Element shows the cart's amount before any PaymentIntent exists; on submit we validate it
// (elements.submit), post the page's own form (e-mail, version, token, CSRF) to get the cart's
// PaymentIntent, then confirm it. Without this script the form posts to the checkout as before
// and the payment's own page takes the card. The books arrive with Stripe's webhook, not here.
(function () {
  "use strict";
  var form = document.getElementById("stripe-cart");
  if (!form || typeof window.Stripe !== "function") return;
  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({
    mode: "payment",
    amount: parseInt(form.dataset.amount, 10),
    currency: form.dataset.currency,
  });
  elements.create("payment").mount("#payment-element");
  var error = document.getElementById("payment-error");
  var button = document.getElementById("pay-button");

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) return; // a double click: the first submit is on its way
    button.disabled = true;
    error.hidden = true;
    elements
      .submit()
      .then(function (result) {
        if (result.error) throw new Error(result.error.message);
        return fetch(form.dataset.intentUrl, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
      })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || "Something went wrong: nothing was charged.");
          return body;
        });
      })
      .then(function (body) {
        return stripe.confirmPayment({
          elements: elements,
          clientSecret: body.client_secret,
          confirmParams: { return_url: body.return_url },
        });
      })
      .then(function (result) {
        if (result && result.error) fail(result.error.message);
      })
      .catch(function (problem) {
        fail(problem.message);
      });
  });
})();
