"""Complete applications built on the course's components (module 11).

- `chat`: a Gradio chatbot with streaming, history trimmed to a token budget and module 10's guards
  (`journey chat`)
"""
