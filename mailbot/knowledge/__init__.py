"""Questions become numbered threads; accepted answers become searchable knowledge entries."""
