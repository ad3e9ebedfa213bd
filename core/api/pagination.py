"""Cursor pagination for every admin API list: stable under inserts, no page counts."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """``?cursor=...&page_size=N`` (default 50, at most 200), newest first unless a view orders otherwise."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-pk"
