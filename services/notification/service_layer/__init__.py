"""Notification's use cases: the inbox and answers, push follow-up, webhook subscriptions, the push worker."""
