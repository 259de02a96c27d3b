"""`--count-as PEER` against the peers themselves, run live on the same models.

The torchvision-layout specs are compared with the peers run on torchvision's models;
the lecture's AlexNet (no torchvision twin) with the peers run on the spec-built model.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import re
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import cnnscope  # noqa: E402
from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.peers import count_as  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402
from tests.twins import SMALL_INPUTS, TWINS, VIDEO_TWINS, empty_twin, torchvision_twin  # noqa: E402

MODELS = (*(name for name in TWINS if name != "vgg19"), *VIDEO_TWINS, "alexnet")


# torchvision's r3d_18 builds its blocks' 3x3x3 convs as Conv3DSimple, a subclass of nn.Conv3d that the
# exact-type lookups of ptflops and thop miss; cnnscope reports what they count on plain nn.Conv3d (as
# its own build has), and test_what_the_peers_miss_in_a_subclass checks the gap on torchvision's model
SUBCLASSED = {("r3d_18", "ptflops"), ("r3d_18", "thop")}


# The peers count by formula, the same at any size: each twin runs at a small size, once per peer; the
# lecture's AlexNet keeps its 227x227 (no adaptive pooling).


@functools.lru_cache(maxsize=1)
def _twin(name):
    """The twin's modules and shapes, its memory left as it comes: a count reads no value, and drawing
    vgg16's 138 M initial weights took longer than every peer's count of it together."""
    return empty_twin(name)


def model_for(name, peer=""):
    """torchvision's twin (fresh modules: peers may add hooks or buffers), or the spec-built model where there
    is none (the lecture's AlexNet)."""
    if name in (*TWINS, *VIDEO_TWINS) and (name, peer) not in SUBCLASSED:
        twin = _twin(name)  # new modules, the same tensors: copying vgg16's 528 MB for each peer took longer
        return copy.deepcopy(twin, memo={id(tensor): tensor for tensor in (*twin.parameters(), *twin.buffers())})
    return cnnscope.build(spec_for(name)).eval()


def spec_for(name):
    """The zoo spec, at the size the peers run it."""
    spec = load_target(name)
    return spec.with_input(SMALL_INPUTS[name]) if name in SMALL_INPUTS else spec


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


@pytest.mark.parametrize("peer", RUNNERS)
@pytest.mark.parametrize("name", MODELS)  # one model after another, each through every peer
def test_count_as_reproduces_the_peer(name, peer):
    analysis = analyze(spec_for(name))
    model = model_for(name, peer)
    x = torch.randn(1, *analysis.spec.input.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reported = RUNNERS[peer](model, x)
    assert int(reported) == count_as(analysis, peer).total
    if peer in ("torchinfo", "fvcore"):  # where they count the same things, they agree with cnnscope
        conv_linear = {"conv2d", "conv3d", "linear"}
        counted = count_as(analysis, peer).by_type
        assert sum(v for k, v in counted.items() if k in conv_linear) - analysis.total.macs == (
            sum(
                r.cost.biases * (1 if r.type == "linear" else math.prod(r.output_shape[1:]))
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


@pytest.mark.parametrize("peer", sorted(peer for _, peer in SUBCLASSED))
def test_what_the_peers_miss_in_a_subclass(peer):
    analysis = analyze(spec_for("r3d_18"))
    blocks = re.compile(r"layer\d\.\d\.conv[12]\.0")  # torchvision's Conv3DSimple modules
    missed = sum(n for name, n in count_as(analysis, peer).by_layer.items() if blocks.fullmatch(name))
    x = torch.randn(1, *analysis.spec.input.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reported = RUNNERS[peer](torchvision_twin("r3d_18"), x)
    assert missed > 0 and int(reported) == count_as(analysis, peer).total - missed


def test_count_as_command(cli):
    result = cli("inspect", "resnet18", "--count-as", "thop")
    assert result.exit_code == 0 and "1,824,033,792" in result.stdout and "difference +9,960,448" in result.stdout
    assert cli("inspect", "resnet18", "--count-as", "thops").exit_code == 2
