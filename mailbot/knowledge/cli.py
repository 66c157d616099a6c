"""`mailbot kb ...` and `mailbot threads ...` sub-commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the knowledge sub-commands to the main parser."""
