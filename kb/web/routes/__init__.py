"""The API's routers, one module per resource; kb.web.app includes them."""
