"""Helpers shared by tests (import them from here, not from conftest.py)."""
