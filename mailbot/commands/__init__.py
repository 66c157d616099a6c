"""E-mail commands to <list>-request: one table, parsed only from the first lines of the new text."""
