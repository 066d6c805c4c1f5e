from django.urls import path

from . import (
    bundle_views,
    cart_intent_views,
    cart_views,
    coupon_views,
    credit_views,
    earnings_views,
    guest_views,
    insights_views,
    views,
)

app_name = "payments"

urlpatterns = [
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("checkout/<slug:slug>/pay/", views.pay, name="pay"),
    path("checkout/<slug:slug>/credit/", credit_views.buy_with_credit, name="buy_with_credit"),
    path("cart/", cart_views.cart_page, name="cart"),
    path("cart/add/<slug:slug>/", cart_views.add, name="cart_add"),
    path("cart/lines/", cart_views.update, name="cart_update"),
    path("cart/checkout/", cart_views.checkout, name="cart_checkout"),
    path("cart/checkout/intent/", cart_intent_views.intent, name="cart_intent"),
    path("cart/pay/<uuid:public_id>/", cart_views.payment_page, name="cart_payment"),
    path(
        "cart/pay/<uuid:public_id>/books/<int:book_id>/<str:fmt>/",
        guest_views.download,
        name="guest_download",
    ),
    path("bundles/<slug:slug>/", bundle_views.bundle_page, name="bundle"),
    path("bundles/<slug:slug>/cart/", bundle_views.add_to_cart, name="bundle_cart_add"),
    path("cart/bundles/remove/", bundle_views.remove_from_cart, name="bundle_cart_remove"),
    path("bundles/<slug:slug>/checkout/", bundle_views.bundle_checkout, name="bundle_checkout"),
    path("orders/bundles/<uuid:sale>/refund/", bundle_views.bundle_refund, name="bundle_refund"),
    path("credits/", credit_views.credits_page, name="credits"),
    path("credits/packs/", credit_views.buy_pack, name="buy_pack"),
    path("credits/membership/", credit_views.join_membership, name="join_membership"),
    path("credits/membership/card/", credit_views.membership_stripe, name="membership_stripe"),
    path(
        "credits/membership/card/done/",
        credit_views.membership_stripe_done,
        name="membership_stripe_done",
    ),
    path("credits/membership/cancel/", credit_views.cancel_membership, name="cancel_membership"),
    path("credits/membership/resume/", credit_views.resume_membership, name="resume_membership"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<uuid:public_id>/", views.order_detail, name="order"),
    path("orders/<uuid:public_id>/pay/", views.pay_order, name="pay_order"),
    path("orders/<uuid:public_id>/retry/", views.retry, name="retry"),
    path("orders/<uuid:public_id>/refund/", views.refund, name="refund"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
    path("author/earnings/", earnings_views.dashboard, name="earnings"),
    path("author/earnings.csv", earnings_views.earnings_csv, name="earnings_csv"),
    path("author/payouts/", earnings_views.payout_details, name="payout_details"),
    path("author/books/<slug:slug>/insights/", insights_views.book_insights, name="insights"),
    path("author/books/<slug:slug>/coupons/", coupon_views.book_coupons, name="book_coupons"),
]
