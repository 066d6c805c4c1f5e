from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("checkout/<slug:slug>/pay/", views.pay, name="pay"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<uuid:public_id>/", views.order_detail, name="order"),
    path("orders/<uuid:public_id>/pay/", views.pay_order, name="pay_order"),
    path("orders/<uuid:public_id>/refund/", views.refund, name="refund"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
]
