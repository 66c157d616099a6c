"""Mail in and out: parsing, composition, IMAP and SMTP transports."""
