"""The torchvision-layout specs against torchvision's own models, built at test time.

Layer names in these specs are torchvision's module names, so every layer can be
checked: its parameter count against the module's, its output shape against what a
forward hook records on a real forward pass.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402
from tests.conftest import record_output_shapes  # noqa: E402
from tests.twins import TWINS, VIDEO_TWINS, torchvision_twin  # noqa: E402


@pytest.mark.parametrize("name", (*TWINS, *VIDEO_TWINS))
def test_spec_matches_torchvision(name):
    analysis = analyze(load_target(name))
    with torch.device("meta"):  # shapes and counts only: no memory, no init time
        model = torchvision_twin(name)
    assert analysis.total.params == sum(p.numel() for p in model.parameters())

    modules = dict(model.named_modules())
    shared = [report for report in analysis.layers if report.name in modules]
    for report in shared:
        own = sum(p.numel() for p in modules[report.name].parameters(recurse=False))
        assert report.cost.params == own, report.name
    recorded = record_output_shapes(model, [report.name for report in shared])
    with torch.no_grad():
        model(torch.empty(1, *analysis.spec.input.shape, device="meta"))
    checked = [r for r in analysis.layers if r.name in recorded]
    assert len(checked) >= len([r for r in analysis.layers if r.cost.params]) > 0
    for report in checked:
        assert recorded[report.name] == (1, *report.output_shape), report.name
