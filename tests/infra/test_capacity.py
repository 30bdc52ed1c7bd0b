"""The N+1 sizing (ops/capacity.py, docs/capacity.md): losing any one region leaves enough, the
measured figure is the one docs/benchmarks.md reports, and the deployed defaults are the model's."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from ops.capacity import MEASURED_ITERATIONS_PER_S, REQUESTS_PER_ITERATION, Inputs, parameters, size

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("regions", [2, 3, 4, 5])
@pytest.mark.parametrize("peak", [100.0, 1500.0, 6000.0])
def test_any_one_region_lost_the_others_carry_the_peak(regions, peak):
    sizing = size(Inputs(peak_rps=peak, regions=regions))
    survivors = regions - 1
    # API instances: the survivors at their ceiling carry the whole peak at the planned utilisation.
    assert survivors * sizing.maximum_instance_count * sizing.per_instance_rps >= peak
    # Cosmos DB: every write replicates to each region; a survivor also serves its share of reads.
    assert sizing.cosmos_max_throughput >= sizing.cosmos_ru_per_region
    assert sizing.cosmos_max_throughput % 1000 == 0
    # Not oversized by more than one instance.
    assert survivors * (sizing.maximum_instance_count - 1) * sizing.per_instance_rps < peak


def test_one_region_cannot_be_n_plus_one():
    with pytest.raises(ValueError, match="at least 2 regions"):
        size(Inputs(regions=1))


def test_the_measured_figure_is_the_one_the_benchmarks_report():
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    row = re.search(r"^\| `7e81e40` [^|]*\| ([\d.]+) \|", text, re.MULTILINE)
    assert row, "docs/benchmarks.md no longer reports api_throughput at 7e81e40"
    assert float(row.group(1)) == MEASURED_ITERATIONS_PER_S
    assert REQUESTS_PER_ITERATION == 3  # deposit, list, get


def _parameters_file_defaults() -> dict[str, int]:
    entries = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    found = {}
    for name, entry in entries.items():
        default = re.fullmatch(r"\$\{[A-Z_]+=(\d+)\}", entry["value"])
        if default:
            found[name] = int(default.group(1))
    return found


def test_deployed_defaults_follow_from_the_model():
    model = parameters(size())
    assert {name: _parameters_file_defaults().get(name) for name in model} == model
    main = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    for name, value in model.items():
        declared = re.search(rf"^param {name} int = (\d+)$", main, re.MULTILINE)
        assert declared and int(declared.group(1)) == value, f"main.bicep {name}: not the model's {value}"


def test_capacity_doc_shows_the_models_answer():
    text = (ROOT / "docs" / "capacity.md").read_text(encoding="utf-8")
    sizing = size()
    for figure in (sizing.maximum_instance_count, sizing.always_ready_http_instances, sizing.cosmos_max_throughput,
                   math.floor(sizing.per_instance_rps)):
        assert f"{figure:,}" in text or str(figure) in text, figure
