"""Alerts: email (instant and digests) and signed webhooks, built by pure functions.

The store side (subscribers, webhooks, the outbox) calls these builders and senders; nothing
here imports `scheduler`.
"""
