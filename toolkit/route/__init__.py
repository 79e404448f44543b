"""Global routers: which engine serves each request."""
