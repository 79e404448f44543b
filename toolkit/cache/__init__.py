"""Prefix caches shared by every backend."""
