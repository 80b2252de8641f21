"""Reusable Qt components: given arrays, calibrations and settings; emit signals. Never import the app."""
