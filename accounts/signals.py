"""Signals accounts sends for higher apps (accounts may not import idp).

``credentials_changed``: a user's password was changed or reset. idp revokes every token the
user holds (idp.apps); other browser sessions end by themselves, because Django's session
authentication hash no longer matches (the session that made the change is kept)."""

from django.dispatch import Signal

credentials_changed = Signal()  # sender: the user model; kwargs: user, reason

# Sessions of a user were ended (accounts.sessions.end_sessions): idp revokes the tokens
# issued through each sid (every token of the user with all_tokens), in the same transaction.
# ``actor`` (a core.actors.Actor, or None for the user themselves) is who ended them: an admin
# locking, deactivating or signing out a user (accounts.services).
sessions_ended = Signal()  # sender: the user model; kwargs: user, sids, reason, all_tokens, actor
