"""Signals accounts sends for higher apps (accounts may not import idp).

``credentials_changed``: a user's password was changed or reset. idp revokes every token the
user holds (idp.apps); other browser sessions end by themselves, because Django's session
authentication hash no longer matches (the session that made the change is kept)."""

from django.dispatch import Signal

credentials_changed = Signal()  # sender: the user model; kwargs: user, reason
