"""Migration scripts, oldest first; each one frozen once released."""
