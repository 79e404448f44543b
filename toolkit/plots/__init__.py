"""Seaborn figures in one shared style; one function per paper figure."""
