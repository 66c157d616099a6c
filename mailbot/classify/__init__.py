"""Classification: an ordered, first-match rule chain read from rules/*.toml over pure predicates."""
