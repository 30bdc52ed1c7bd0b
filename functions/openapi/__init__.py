"""The OpenAPI 3.1 document of the HTTP API, served by functions/docs.py: `document` builds it from
`schemas` (components), `operations` (security, problems, links) and `paths` (one group a blueprint)."""

from functions.openapi.document import openapi_document
from functions.openapi.schemas import REQUEST_MODELS

__all__ = ["REQUEST_MODELS", "openapi_document"]
