"""Passwords, tokens, API keys and rate limits."""
