"""Real protocol servers (SMTP sink, ...) that tests start on 127.0.0.1."""
