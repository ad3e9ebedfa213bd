"""Placeholder until the accounts API lands."""

urlpatterns: list = []
