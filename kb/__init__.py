"""kb: a multilingual self-service help center."""

__version__ = "0.1.0"

# The HTTP API's version prefix, defined once: kb.web serves every API route under it and the
# static site's scripts (kb.site) call it. Here, at the root, because both layers need it.
API_PREFIX = "/v1"
