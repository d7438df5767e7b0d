"""`doctune serve`: a local web app over one project's outputs (overview, documents and chunks,
datasets and their review, compare answers, chat, the report). Server-rendered with Starlette and
Jinja2; it reads while a run writes and never takes the run lock."""
