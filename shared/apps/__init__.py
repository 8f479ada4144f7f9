"""Applications that put the course's parts together (module 11 and the module 12 capstone)."""
