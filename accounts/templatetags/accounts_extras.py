"""Template filters of the account pages."""

from django import template

from accounts import useragents

register = template.Library()


@register.filter
def browser(user_agent: str) -> str:
    """``{{ session.user_agent|browser }}``: "Chrome on Linux" (accounts.useragents)."""
    return useragents.describe(user_agent or "")
