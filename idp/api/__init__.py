"""The admin API's OAuth clients and signing keys."""
