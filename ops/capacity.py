"""The N+1 sizing model (docs/capacity.md): from measured per-instance throughput, the expected
peak and the number of regions, each region's Flex maximum instances, always-ready instances and
Cosmos DB autoscale ceiling, such that losing any one region leaves enough.

    python -m ops.capacity                       # the documented inputs → main.parameters.json's defaults
    python -m ops.capacity --peak 3000 --regions 4

tests/infra/test_capacity.py checks that infra/main.parameters.json and infra/main.bicep default to
what this model gives for its documented inputs, and that the measured figure is the one
docs/benchmarks.md reports.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass

# Measured: docs/benchmarks.md, "Before and after, back to back", commit 7e81e40 (the current code):
# bench.api_throughput, 16 concurrent clients on one local host, each iteration = deposit + list + get.
MEASURED_ITERATIONS_PER_S = 26.4
REQUESTS_PER_ITERATION = 3
MEASURED_CONCURRENCY = 16  # the bench's clients: what one instance was measured at (perInstanceConcurrency)

# Request units per operation: ESTIMATES (the local emulator charges no RUs), from Cosmos DB's
# published costs for ~1-2 KB documents with the default indexing, per the calls each operation
# makes (docs/benchmarks.md "Deposit cost": 1 query + 1 batch of 2 writes + blob + queue).
# Flex Consumption's lowest maximumInstanceCount in every region (learn.microsoft.com/azure/azure-functions/
# flex-consumption-plan, "Considerations"); fewer only in a few regions. The deployed default never goes below.
FLEX_MIN_MAXIMUM_INSTANCES = 40

RU = {
    "deposit_read": 3.0,    # the one-partition query: mailbox, tallies, PIN record, idempotent message
    "deposit_write": 18.0,  # transactional batch: message create (~8) + tally replace (~10)
    "list": 5.0,            # one-partition TOP 51 query
    "get": 1.0,             # point read
}


@dataclass(frozen=True)
class Inputs:
    peak_rps: float = 1500.0         # expected global peak, API requests/s (planning figure, docs/capacity.md)
    regions: int = 3                 # stamps deployed
    utilisation: float = 0.6         # planned share of an instance's measured throughput at peak
    off_peak_share: float = 0.2      # off-peak traffic as a share of peak: what always-ready instances carry
    ru_headroom: float = 1.25        # sweeps, replication, conflicts and retries on top of the API's RUs
    zone_redundant: bool = True      # Flex then keeps 2 always-ready instances at least


@dataclass(frozen=True)
class Sizing:
    per_instance_rps: float          # planned throughput of one instance (measured x utilisation)
    region_share_rps: float          # what each surviving region carries with one region lost
    maximum_instance_count: int      # Flex maximumInstanceCount per region
    always_ready_http_instances: int # Flex alwaysReady (http) per region
    http_per_instance_concurrency: int
    cosmos_max_throughput: int       # autoscale max RU/s (per region: every region is provisioned alike)
    cosmos_ru_per_region: float      # before headroom and rounding


def size(inputs: Inputs = Inputs()) -> Sizing:
    if inputs.regions < 2:
        raise ValueError("N+1 needs at least 2 regions: with 1, losing it loses everything")
    per_instance = MEASURED_ITERATIONS_PER_S * REQUESTS_PER_ITERATION * inputs.utilisation
    survivors = inputs.regions - 1
    share = inputs.peak_rps / survivors
    maximum = math.ceil(share / per_instance)
    off_peak = inputs.peak_rps / inputs.regions * inputs.off_peak_share
    always_ready = max(2 if inputs.zone_redundant else 1, math.ceil(off_peak / per_instance))
    # The benchmark's mix: a third of requests each deposit, list, get. Writes replicate to every
    # region and are charged there; reads are charged where served (the survivors' share).
    deposit_rps = inputs.peak_rps / REQUESTS_PER_ITERATION
    writes = deposit_rps * RU["deposit_write"]
    reads = share / REQUESTS_PER_ITERATION * (RU["deposit_read"] + RU["list"] + RU["get"])
    ru = writes + reads
    cosmos = int(math.ceil(ru * inputs.ru_headroom / 1000.0) * 1000)  # autoscale max: a multiple of 1000
    return Sizing(round(per_instance, 1), round(share, 1), maximum, always_ready, MEASURED_CONCURRENCY,
                  max(cosmos, 1000), round(ru, 1))


def parameters(sizing: Sizing) -> dict[str, int]:
    """main.bicep's parameter names → the model's values (the instance ceiling at Flex's floor at least)."""
    return {
        "maximumInstanceCount": max(sizing.maximum_instance_count, FLEX_MIN_MAXIMUM_INSTANCES),
        "alwaysReadyHttpInstances": sizing.always_ready_http_instances,
        "httpPerInstanceConcurrency": sizing.http_per_instance_concurrency,
        "cosmosMaxThroughput": sizing.cosmos_max_throughput,
    }


def main(argv: list[str]) -> int:
    defaults = Inputs()
    parser = argparse.ArgumentParser(prog="python -m ops.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peak", type=float, default=defaults.peak_rps, help="expected global peak, requests/s")
    parser.add_argument("--regions", type=int, default=defaults.regions)
    parser.add_argument("--utilisation", type=float, default=defaults.utilisation)
    args = parser.parse_args(argv)
    inputs = Inputs(peak_rps=args.peak, regions=args.regions, utilisation=args.utilisation)
    sizing = size(inputs)
    for name, value in {**asdict(inputs), **asdict(sizing)}.items():
        print(f"{name:32} {value}")
    print("\nmain.bicep parameters:", " ".join(f"{k}={v}" for k, v in parameters(sizing).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
