"""`cnnscope.summary`: torchinfo's one-liner, printed in a terminal and rendered in Jupyter."""

from __future__ import annotations

import pytest

import cnnscope
from cnnscope.spec import parse
from tests.conftest import SPECS


def test_a_torchvision_model_in_text_and_html():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18()
    params = f"{sum(p.numel() for p in model.parameters()):,}"  # torch's own count: 11,689,512
    assert params == "11,689,512"
    summary = cnnscope.summary(model, (3, 224, 224), depth=1)
    text, html = str(summary), summary._repr_html_()
    assert params in text and params in html
    assert "layer1 (14 layers)" in text and html.startswith('<div class="cnnscope-summary"><table>')
    assert repr(summary) == text  # the Python prompt shows the table


def test_a_zoo_name_a_path_and_a_spec():
    spec = cnnscope.load("lenet5")
    params = f"{spec.expect.params:,}"  # the spec's [expect], written by hand
    for target in ("lenet5", SPECS / "lenet5.toml", spec):
        summary = cnnscope.summary(target)
        assert params in str(summary) and params in summary._repr_html_()
        assert summary.total.params == spec.expect.params
    resized = cnnscope.summary("alexnet_tv", "448")
    assert resized.analysis.spec.input.shape == (3, 448, 448)
    assert cnnscope.summary("alexnet_tv", (3, 448, 448)).total.macs == resized.total.macs


def test_html_escapes_user_text():
    spec = parse('name = "x"\ntitle = "<script>alert(1)</script>"\ninput = [1, 4, 4]\nlayers = [{type = "relu"}]\n')
    html = cnnscope.summary(spec)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_module_needs_its_input_size():
    torch = pytest.importorskip("torch")
    with pytest.raises(cnnscope.CnnscopeError, match="needs input_size"):
        cnnscope.summary(torch.nn.Conv2d(1, 2, 3))
