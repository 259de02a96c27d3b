"""The generated forward (cnnscope.runtime.forward) gives the step loop's values, bit for bit."""

from __future__ import annotations

import copy
import pickle

import pytest

torch = pytest.importorskip("torch")

import cnnscope  # noqa: E402
from cnnscope.layers import modules  # noqa: E402
from cnnscope.runtime.build import build  # noqa: E402
from cnnscope.spec import parse  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402

TINY = """
name = "tiny"
input = [3, 8, 8]
layers = [
  {name = "conv", type = "conv2d", out = 4, kernel = 3, padding = 1},
  {name = "bn", type = "batchnorm", act = "relu"},
  {name = "a", type = "conv2d", out = 4, kernel = 1},
  {name = "relu", type = "relu"},
  {name = "b", type = "conv2d", from = "bn", out = 4, kernel = 1},
  {name = "add", type = "add", from = ["b", "relu"], act = "relu"},
  {name = "cat", type = "concat", from = ["add", "bn"]},
  {name = "pool", type = "global_avgpool"},
]
"""

# merges of every kind, at small input sizes: (zoo name, input)
MERGES = [
    ("resnet18", (3, 64, 64)),  # add
    ("googlenet_tv", (3, 64, 64)),  # concat
    ("mobilenet_v2", (3, 64, 64)),  # add after a linear bottleneck, relu6
    ("densenet121", (3, 64, 64)),  # concat of every earlier map
    ("efficientnet_b0", (3, 64, 64)),  # mul (squeeze-and-excitation), silu, stochastic depth
    ("unet", (1, 188, 188)),  # crop and concat across the U
]


def tiny():
    torch.manual_seed(0)
    return build(parse(TINY)).eval()


def loop_output(model, x):
    """The step loop's answer: the last layer's output from ``activations``."""
    return list(model.activations(x).values())[-1]


def test_the_source_of_a_tiny_spec():
    # 'relu' and 'add' overwrite the fresh outputs of the convs 'a' and 'b', which nothing else reads;
    # 'bn', read three times, keeps its values; 'cat' is torch.cat, as Concat.forward has it
    assert tiny().forward_source == (
        "def forward(m, x):\n"
        "    x = m[0](x)  # 'conv'\n"
        "    x = m[2](m[1](x))  # 'bn', then ReLU(inplace=True)\n"
        "    x1 = m[3](x)  # 'a'\n"
        "    x1 = m[4](x1)  # 'relu', in place\n"
        "    x2 = m[5](x)  # 'b'\n"
        "    x2 = m[6](x2.add_(x1) if x2.dtype == x1.dtype else x2 + x1)  # 'add', in place, then ReLU(inplace=True)\n"
        "    del x1\n"
        "    x2 = torch.cat((x2, x), dim=1)  # 'cat'\n"
        "    del x\n"
        "    x2 = m[7](x2)  # 'pool'\n"
        "    return x2\n"
    )


def test_what_an_activation_gave_is_never_overwritten():
    """An activation's backward may need its output (relu's does): an add after it is written out of place."""
    model = build(parse(TINY.replace('from = ["b", "relu"]', 'from = ["relu", "b"]'))).eval()
    assert "x1 = m[6](x1 + x2)  # 'add', then ReLU(inplace=True)" in model.forward_source
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert torch.equal(model(x), loop_output(model, x))
    model(x).sum().backward()  # relu's saved output was left alone


@pytest.mark.parametrize(("name", "shape"), MERGES)
def test_zoo_outputs_equal_the_step_loop(name, shape):
    torch.manual_seed(0)
    model = build(load_target(name).with_input(shape)).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        generated, looped = model(x), loop_output(model, x)
        assert torch.equal(model.forward_steps(x), looped)
    assert torch.equal(generated, looped)


@pytest.mark.parametrize(("name", "shape"), [MERGES[0], MERGES[4]])
def test_training_gradients_equal_the_step_loop(name, shape):
    """Train mode (batch statistics, dropout, stochastic depth): same outputs, same gradients, same running stats."""
    torch.manual_seed(0)
    generated = build(load_target(name).with_input(shape)).train()
    looped = copy.deepcopy(generated)
    x = torch.randn(2, *shape)
    torch.manual_seed(1)
    generated(x).square().sum().backward()
    torch.manual_seed(1)
    loop_output(looped, x).square().sum().backward()
    for (key, ours), (_, theirs) in zip(generated.named_parameters(), looped.named_parameters()):
        assert torch.equal(ours.grad, theirs.grad), key
    assert all(torch.equal(a, b) for a, b in zip(generated.buffers(), looped.buffers()))


def dispatched_ops(forward, x) -> list[str]:
    """The aten ops that ``forward(x)`` runs, in order (``aten.add_.Tensor``, ...)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Record() as record:
        forward(x)
    return record.ops


@pytest.mark.parametrize(("name", "shape"), MERGES[:2])
def test_the_same_torch_ops_run_as_in_the_loop(name, shape):
    """Op for op the loop's calls (an in-place variant at most), so torch's FlopCounterMode, which runs
    the loop (its module hooks are global), counts what the generated forward does."""
    model = build(load_target(name).with_input(shape), init=False).eval()
    x = torch.randn(1, *shape)
    generated, looped = dispatched_ops(model, x), dispatched_ops(model.activations, x)
    assert "aten.cat.default" in generated or "aten.add_.Tensor" in generated
    assert [op.replace("_.", ".") for op in generated] == [op.replace("_.", ".") for op in looped]


def test_torchvisions_ops_run_in_torchvisions_order():
    """resnet18 with its relu and add layers runs relu_ and add_ where torchvision does, nothing more."""
    from tests.twins import torchvision_twin

    x = torch.randn(1, 3, 64, 64)
    ours = dispatched_ops(build("resnet18", init=False).eval(), x)
    assert ours == dispatched_ops(torchvision_twin("resnet18"), x)


def test_hooks_fire_and_see_what_the_loop_gives():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model.activations(x)
    seen: dict[str, torch.Tensor] = {}
    model.get_submodule("bn").register_forward_hook(lambda _m, _i, out: seen.__setitem__("bn", out.clone()))
    with torch.no_grad():
        assert torch.equal(model(x), expected["pool"])  # the generated forward: 'bn' has no tensor to lose
    assert seen["bn"].min() < 0 <= expected["bn"].min()  # its output before the fused activation
    model.get_submodule("add").register_forward_hook(lambda _m, _i, out: seen.__setitem__("add", out))
    with torch.no_grad():
        assert torch.equal(model(x), expected["pool"])  # the loop, where the add is a module call
    assert torch.equal(seen["add"], expected["add"])  # the same tensor, which the fused relu then overwrote


def test_a_hook_on_a_layer_that_would_be_overwritten_keeps_its_values():
    model = tiny()
    kept: list[torch.Tensor] = []
    model.get_submodule("a").register_forward_hook(lambda _m, _i, out: kept.append(out))
    with torch.no_grad():
        model(torch.randn(2, 3, 8, 8))
    assert kept[0].min() < 0  # the relu layer after 'a' did not write into it


def test_merges_are_expressions_unless_hooked(monkeypatch):
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = loop_output(model, x)

    def refuse(*_args):
        raise AssertionError("the generated forward called a merge module")

    monkeypatch.setattr(modules.Add, "forward", refuse)
    with torch.no_grad():
        assert torch.equal(model(x), expected)
    calls: list[str] = []
    hook = torch.nn.modules.module.register_module_forward_hook(lambda m, _i, _o: calls.append(type(m).__name__))
    try:
        with pytest.raises(AssertionError, match="merge module"), torch.no_grad():
            model(x)  # a global hook would see the add: the loop runs it
    finally:
        hook.remove()
    assert calls == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]  # then Add.forward refused


def test_the_input_is_never_overwritten():
    model = build(parse('input = [4]\nlayers = [{name = "r", type = "relu"}, {type = "linear", out = 2}]'))
    x = torch.randn(3, 4)
    before = x.clone()
    with torch.no_grad():
        model(x)
    assert torch.equal(x, before)


def test_autocast_keeps_the_promoted_dtype_of_an_add():
    """Under autocast a conv gives bfloat16 and the input is float32: ``a + b`` is float32, ``a.add_(b)`` would not be."""
    spec = 'input = [3, 4, 4]\nlayers = [{name = "c", type = "conv2d", out = 3, kernel = 1}, {type = "add", from = ["c", "in"]}]'
    model = build(parse(spec)).eval()
    assert ".add_(" in model.forward_source
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        generated, looped = model(x), loop_output(model, x)
    assert generated.dtype == looped.dtype == torch.float32
    assert torch.equal(generated, looped)


def test_copies_run_their_own_modules():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        with torch.no_grad():
            assert torch.equal(other(x), model(x))
            other.get_submodule("b").weight.add_(1.0)
            assert not torch.equal(other(x), model(x))
        assert other.forward_source == model.forward_source


def test_meta_device_uninitialised_build_and_moves():
    with torch.device("meta"):
        model = cnnscope.build("resnet18").eval()
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1000) and out.device.type == "meta"
    model = build("lenet5", init=False).eval().to(torch.float64)
    x = torch.randn(2, *model.spec.input.shape, dtype=torch.float64)
    with torch.no_grad():
        assert model(x).dtype == torch.float64


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")
def test_jit_trace_follows_the_loop():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    traced = torch.jit.trace(model, x)
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))
