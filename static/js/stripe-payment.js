// Stripe's Payment Element on our payment page (and the membership's card page). Card data goes to Stripe only;
// the order becomes paid when Stripe's signed webhook reaches us, not here.
(function () {
  "use strict";
  var form = document.getElementById("stripe-payment");
  if (!form || typeof window.Stripe !== "function") return;
  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  var error = document.getElementById("payment-error");
  var button = document.getElementById("pay-button");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    // data-mode="setup": save the card for the membership's subscription instead.
    var confirm = form.dataset.mode === "setup" ? stripe.confirmSetup : stripe.confirmPayment;
    confirm
      .call(stripe, { elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        if (result.error) {
          error.textContent = result.error.message;
          error.hidden = false;
          button.disabled = false;
        }
      });
  });
})();
