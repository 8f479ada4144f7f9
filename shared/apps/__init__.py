"""Applications built on the course's models: chatbots, code assistants, summarisation engines."""
