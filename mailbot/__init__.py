"""mailbot: the group-mail bot of a knowledge-management Community of Practice."""

__version__ = "0.1.0"
