"""Outgoing webhooks: authors' endpoints, signed deliveries (Standard Webhooks), retries.

The top of the app order: it imports the apps below and listens to their
signals; nothing imports it."""
