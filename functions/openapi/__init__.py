"""The OpenAPI 3.1 document of the HTTP API, served by functions/docs.py."""

from functions.openapi.document import REQUEST_MODELS, openapi_document

__all__ = ["REQUEST_MODELS", "openapi_document"]
