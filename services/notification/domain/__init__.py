"""Notification's pure decisions: signatures, retry schedule, access, paging, feedback, status."""
