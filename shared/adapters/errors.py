"""Translate SDK failures into the domain's: transient ones become Unavailable (503 + Retry-After)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.domain.errors import DatabaseUnavailable, EtagMismatch, Unavailable
from shared.ports import AlreadyExists

logger = logging.getLogger(__name__)
_TRANSIENT = {408, 429, 449, 500, 502, 503, 504}


@contextlib.contextmanager
def translated(what: str, unavailable: type[Unavailable] = Unavailable) -> Iterator[None]:
    """Inside: SDK calls. Out: AlreadyExists, EtagMismatch, `unavailable` (Unavailable or the
    subclass naming the dependency), or the SDK error itself."""
    try:
        yield
    except ResourceExistsError as error:
        if getattr(error, "status_code", None) == 412:
            raise EtagMismatch("the resource changed since it was read") from error
        raise AlreadyExists(what) from error
    except ResourceModifiedError as error:
        raise EtagMismatch("the resource changed since it was read") from error
    except ResourceNotFoundError:
        raise
    except (ServiceRequestError, ServiceResponseError, TimeoutError, ConnectionError) as error:
        logger.warning("%s: dependency unreachable: %r", what, error)
        raise unavailable(f"{what}: a dependency did not answer") from error
    except HttpResponseError as error:
        status = error.status_code
        if status == 412:
            raise EtagMismatch("the resource changed since it was read") from error
        if status == 409:
            raise AlreadyExists(what) from error
        if status in _TRANSIENT:
            logger.warning("%s: dependency answered %s", what, status)
            raise unavailable(f"{what}: a dependency is unavailable") from error
        raise
    except AzureError as error:
        logger.warning("%s: dependency failed: %r", what, error)
        raise unavailable(f"{what}: a dependency failed") from error


def db_translated(what: str) -> contextlib.AbstractContextManager[None]:
    """`translated` for the metadata store: its failures are DatabaseUnavailable (a deposit journals)."""
    return translated(what, DatabaseUnavailable)


def missing(kind: str, name: str) -> Unavailable:
    """A resource the app does not create is not there: a deployment problem, named. The Bicep makes
    it in Azure, `devstack/provision.py` locally; the app never creates it."""
    logger.error("the %s %r does not exist: provision it (infra/ in Azure, devstack/provision.py locally)", kind, name)
    return Unavailable(f"the {kind} {name!r} does not exist; it is provisioned with the deployment")
