"""`mailbot tips ...`, `mailbot summary ...` and `mailbot jobs ...` sub-commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the scheduling sub-commands to the main parser."""
