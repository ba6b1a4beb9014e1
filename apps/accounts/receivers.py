"""Audit receivers for Django's own authentication signals (logins, failed logins, logouts)."""
