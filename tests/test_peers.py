"""`--count-as PEER` against the peers themselves, run live on the same models.

The torchvision-layout specs are compared with the peers run on torchvision's models;
the lecture's AlexNet (no torchvision twin) with the peers run on the spec-built model.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import cnnscope  # noqa: E402
from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.peers import count_as  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402
from tests.twins import TWINS, torchvision_twin  # noqa: E402

MODELS = (*(name for name in TWINS if name != "vgg19"), "alexnet")


def model_for(name):
    """torchvision's twin, or the spec-built model where there is none (the lecture's AlexNet)."""
    return torchvision_twin(name) if name in TWINS else cnnscope.build(name).eval()


def run_torchinfo(model, x):
    torchinfo = pytest.importorskip("torchinfo")
    return torchinfo.summary(model, input_size=tuple(x.shape), verbose=0).total_mult_adds


def run_fvcore(model, x):
    fvcore_nn = pytest.importorskip("fvcore.nn")
    with contextlib.redirect_stderr(io.StringIO()):
        analysis = fvcore_nn.FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return analysis.total()


def run_ptflops(model, x):
    ptflops = pytest.importorskip("ptflops")
    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = ptflops.get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False
        )
    return macs


def run_thop(model, x):
    thop = pytest.importorskip("thop")
    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = thop.profile(model, inputs=(x,), verbose=False)
    return int(macs)


def run_flopcounter(model, x):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


RUNNERS = {
    "torchinfo": run_torchinfo,
    "fvcore": run_fvcore,
    "ptflops": run_ptflops,
    "thop": run_thop,
    "flopcounter": run_flopcounter,
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("peer", RUNNERS)
def test_count_as_reproduces_the_peer(name, peer):
    analysis = analyze(load_target(name))
    model = model_for(name)
    x = torch.randn(1, *analysis.spec.input.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reported = RUNNERS[peer](model, x)
    assert int(reported) == count_as(analysis, peer).total
    if peer in ("torchinfo", "fvcore"):  # where they count the same things, they agree with cnnscope
        conv_linear = {"conv2d", "linear"}
        counted = count_as(analysis, peer).by_type
        assert sum(v for k, v in counted.items() if k in conv_linear) - analysis.total.macs == (
            sum(
                r.cost.biases * (r.output_shape[1] * r.output_shape[2] if r.type == "conv2d" else 1)
                for r in analysis.layers
                if r.type in conv_linear
            )
            - sum(  # torchinfo counts a linear's parameters once per batch, not per position (ConvNeXt's MLP)
                r.cost.macs - r.cost.weights
                for r in analysis.layers
                if r.type == "linear" and len(r.input_shapes[0]) > 1
            )
            if peer == "torchinfo"
            else 0
        )


def test_count_as_command(cli):
    result = cli("inspect", "resnet18", "--count-as", "thop")
    assert result.exit_code == 0 and "1,824,033,792" in result.stdout and "difference +9,960,448" in result.stdout
    assert cli("inspect", "resnet18", "--count-as", "thops").exit_code == 2
