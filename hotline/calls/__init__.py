"""calls layer."""
