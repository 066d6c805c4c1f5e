from django.urls import path

from . import earnings_views, views

app_name = "payments"

urlpatterns = [
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("checkout/<slug:slug>/pay/", views.pay, name="pay"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<uuid:public_id>/", views.order_detail, name="order"),
    path("orders/<uuid:public_id>/pay/", views.pay_order, name="pay_order"),
    path("orders/<uuid:public_id>/refund/", views.refund, name="refund"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
    path("author/earnings/", earnings_views.dashboard, name="earnings"),
    path("author/earnings.csv", earnings_views.earnings_csv, name="earnings_csv"),
    path("author/payouts/", earnings_views.payout_details, name="payout_details"),
]
