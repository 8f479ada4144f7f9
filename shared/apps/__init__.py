"""Complete applications built on the course's components (module 11 and 12).

- `chat`: a Gradio chatbot with streaming, history trimmed to a token budget and module 10's guards
  (`journey chat`)
- `sandbox`, `code_eval`, `code_assistant`: generated code run safely, pass@k, the code assistant
- `summarize`: long documents summarised by truncate, map-reduce and refine, with their cost
- `ask_course`: "Ask the course", retrieval-augmented answers over the course with citations (module 12)
"""
