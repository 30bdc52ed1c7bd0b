"""The product on the local host, one per test module (and xdist worker), with its own MWI queue."""

from __future__ import annotations

import pytest

from tests.integration.api_support import Api
from tests.support import HostProcess, product_env, random_name


@pytest.fixture(scope="module")
def product(stack, tmp_path_factory, request):
    """A module may set PRODUCT_SETTINGS, e.g. to disable the transcoder and see `processing`."""
    mwi_queue = random_name("mwi")
    env = product_env(random_name("r"), MWI_QUEUE=mwi_queue, **getattr(request.module, "PRODUCT_SETTINGS", {}))
    with HostProcess(env, tmp=tmp_path_factory.mktemp("product")) as host:
        yield host, Api(host.base_url, mwi_queue)


@pytest.fixture(scope="module")
def api(product) -> Api:
    return product[1]
