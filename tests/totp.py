"""TOTP codes for tests, from pyotp (an independent implementation of RFC 6238).

The server accepts one step of drift each way and *remembers* the drift it saw: a code typed
in the last moment of its step and checked in the next one is accepted with drift -1, after
which "the next step's code" is two steps ahead of the server's centre and refused. People
type codes seconds apart and never notice; a test that types one at a step boundary must not
depend on which side of it the server reads the clock. ``current_code`` therefore waits out
the last seconds of a step, so the code it returns is checked within its own step.
"""

from __future__ import annotations

import time

import pyotp

STEP = 30
MARGIN = 5  # seconds a request takes at most, with room to spare


def current_code(totp: pyotp.TOTP) -> str:
    """The code of the current step, taken early enough in it to be checked in the same step."""
    left = STEP - time.time() % STEP
    if left < MARGIN:
        time.sleep(left + 0.05)
    return totp.now()


def later_code(totp: pyotp.TOTP, steps: int = 1) -> str:
    """A code of a later time step (the server accepts one step of drift each way)."""
    return totp.at(time.time() + STEP * steps)
