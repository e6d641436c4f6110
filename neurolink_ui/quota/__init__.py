"""Guarded demo mode: limits for runs paid by the Space owner's token (see docs/DEPLOY.md).

`settings` (environment), `identity` (who a visitor is), `store` (SQLite / Redis counts),
`clamp` (cost caps from the schema), `guard` (the decisions and their wording). No Gradio.
"""
