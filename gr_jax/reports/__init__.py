"""Reporting: results tables and evaluation plots."""
