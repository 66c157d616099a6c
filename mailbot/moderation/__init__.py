"""Roles and permissions, held posts, confirmation tokens, bounce scores and abuse limits."""
