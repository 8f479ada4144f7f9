"""Applications built on the stack: a code sandbox, assistants."""
