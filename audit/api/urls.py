"""Placeholder until the audit API lands."""

urlpatterns: list = []
