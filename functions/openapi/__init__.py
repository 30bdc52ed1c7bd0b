"""The OpenAPI 3.1 document of the HTTP API, served by functions/docs.py: `document` generates it
from the operation table (functions/table.py) and `schemas` (components)."""

from functions.openapi.document import openapi_document, request_models

__all__ = ["openapi_document", "request_models"]
