#!/usr/bin/env python3
"""manage.py of the relying-party projects (DJANGO_SETTINGS_MODULE picks rp_mozilla or rp_authlib)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rp_mozilla.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
