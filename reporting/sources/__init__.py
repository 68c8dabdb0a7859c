"""Data sources: each turns requests into raw responses, and raw bodies into records."""
