"""The HTTP layer: the one FastAPI app (kb.web.app.create_app), its schemas, errors, security and routes.

Nothing below this package imports FastAPI; the engine, the store and the translator are handed in.
"""
