"""`mailbot held ...` and `mailbot roles` sub-commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the moderation sub-commands to the main parser."""
