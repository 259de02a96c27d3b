"""The faster paths of issue 16 give what the slower ones gave (no timings here: see benchmarks/).

- layer types are frozen records without @dataclass: same keys, defaults, equality, hash, repr;
- FastTable prints what rich's own Table prints, character for character, colours included;
- a model built without random initialisation has the same parameters, buffers and shapes;
- `import cnnscope` imports its parts only when they are asked for.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cnnscope.analysis import analyze
from cnnscope.layers import LAYER_TYPES
from cnnscope.layers.base import REQUIRED, FrozenError
from cnnscope.report import table as table_module
from cnnscope.report.fast_table import FastTable
from cnnscope.report.rows import rows
from cnnscope.zoo import load_target


def test_layer_records_behave_as_frozen_dataclasses() -> None:
    conv = LAYER_TYPES["conv2d"]
    a = conv.from_config({"out": 8, "kernel": 3})
    b = conv.from_config({"out": 8, "kernel": [3, 3], "padding": 0})
    c = conv.from_config({"out": 9, "kernel": 3})
    assert a == b and hash(a) == hash(b) and a != c
    assert a != LAYER_TYPES["conv1d"].from_config({"out": 8, "kernel": 3})  # another type is never equal
    assert repr(a) == (
        "Conv2d(out=8, kernel=(3, 3), stride=(1, 1), padding=(0, 0), padding_mode='zeros', dilation=(1, 1),"
        " groups=1, bias=True, standardize=False, eps=1e-06, gain=False, gamma=1.0)"
    )
    names = ["out", "kernel", "stride", "padding", "padding_mode", "dilation", "groups", "bias"]
    names += ["standardize", "eps", "gain", "gamma"]
    assert [k.name for k in conv.keys] == names
    assert conv.keys[0].default is REQUIRED and conv.keys[names.index("bias")].default is True
    with pytest.raises(FrozenError):
        a.out = 4  # type: ignore[misc]
    with pytest.raises(AttributeError):  # FrozenError is an AttributeError, as dataclasses' is
        del a.kernel
    positional = conv(8, (3, 3))  # type: ignore[call-arg]
    assert positional == conv(out=8, kernel=(3, 3)) and positional.bias is True
    with pytest.raises(TypeError, match="missing 'kernel'"):
        conv(out=8)
    with pytest.raises(TypeError, match="no key 'kernal'"):
        conv(out=8, kernel=(3, 3), kernal=3)
    with pytest.raises(TypeError, match="two values"):
        conv(8, (3, 3), out=8)  # type: ignore[call-arg, misc]


def test_every_type_lists_its_keys_once_in_declaration_order() -> None:
    for cls in LAYER_TYPES.values():
        names = [k.name for k in cls.keys]
        assert len(names) == len(set(names)), cls.type_name
        example = cls.from_config(dict(cls.example))
        assert vars(example).keys() == set(names), cls.type_name  # every key set, nothing else stored
        assert [row[0] for row in cls.keys_doc()] == names


@pytest.mark.parametrize("name", ["resnet18", "googlenet_tv", "unet", "convnext_tiny"])
@pytest.mark.parametrize(
    "console",
    [
        {"width": 150, "markup": False, "emoji": False, "highlight": False},
        {"width": 150, "force_terminal": True, "color_system": "truecolor", "markup": False, "emoji": False},
        {"width": 200},  # markup and emoji on, as a library user's default Console
        {"width": 70, "markup": False, "emoji": False},  # too narrow: rich lays it out
    ],
)
@pytest.mark.parametrize("depth", [None, 2])
def test_fast_table_prints_what_rich_prints(name: str, console: dict[str, object], depth: int | None) -> None:
    analysis = analyze(load_target(name))
    table_rows = rows(analysis, depth)
    printed = []
    for cls in (FastTable, Table):
        table_module.FastTable = cls  # type: ignore[misc]  # layer_table as it was, with rich's own Table
        try:
            target = Console(file=io.StringIO(), **console)  # type: ignore[arg-type]
            target.print(table_module.layer_table(analysis, table_rows, compact=target.width < 120))
        finally:
            table_module.FastTable = FastTable  # type: ignore[misc]
        printed.append(target.file.getvalue())  # type: ignore[attr-defined]
    assert printed[0] == printed[1]


@pytest.mark.parametrize("markup", [False, True])
@pytest.mark.parametrize("wide", ["", "日本"])
def test_fast_table_leaves_to_rich_what_it_cannot_template(markup: bool, wide: str) -> None:
    """Spaces at the ends, markup, wide characters: those cells (or the table) are rich's to render."""
    printed = []
    for cls in (FastTable, Table):
        table = cls(title="t")
        table.add_column("a")
        table.add_column("b", justify="right", style="cyan")
        for cell in ("x", "[bold]y[/bold]", " padded ", "a b", "a  b", "a\tb", Text("t x", style="bold"), wide):
            table.add_row(cell, cell)
        target = Console(
            file=io.StringIO(), width=80, force_terminal=True, color_system="standard", markup=markup, emoji=markup
        )
        target.print(table)
        printed.append(target.file.getvalue())  # type: ignore[attr-defined]
    assert printed[0] == printed[1]


def test_a_model_built_without_init_has_the_same_tensors() -> None:
    torch = pytest.importorskip("torch")
    from cnnscope.runtime.build import build
    from cnnscope.runtime.verify import verify

    initialised, bare = build("resnet18"), build("resnet18", init=False)
    assert {k: (v.shape, v.dtype) for k, v in initialised.state_dict().items()} == {
        k: (v.shape, v.dtype) for k, v in bare.state_dict().items()
    }
    assert all(p.device.type == "cpu" and p.requires_grad for p in bare.parameters())
    assert torch.equal(bare.get_submodule("bn1").running_var, torch.ones(64))
    bare.load_state_dict(initialised.state_dict())  # weights loaded into it work as in any model
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(bare.eval()(x), initialised.eval()(x))
    assert verify(build("lenet5", init=False).eval(), torch.device("cpu")).ok


def test_training_threads_follow_the_model_size(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from cnnscope.runtime.device import training_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    lenet = analyze(load_target("lenet5")).total.macs
    resnet = analyze(load_target("resnet50")).total.macs
    assert training_threads(lenet, 32) == 1
    assert training_threads(resnet, 32) == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice stands
    assert training_threads(lenet, 32) == torch.get_num_threads()


def test_import_cnnscope_loads_its_parts_on_demand() -> None:
    code = (
        "import sys, cnnscope\n"
        "assert 'cnnscope.spec' not in sys.modules and 'cnnscope.analysis' not in sys.modules\n"
        "assert cnnscope.parse is cnnscope.spec.parse and cnnscope.zoo.load_target\n"
        "from cnnscope import Analysis, analyze, Spec\n"
        "assert analyze(cnnscope.load('lenet5')).total.params > 0\n"
        "try:\n    cnnscope.nothing\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_json_commands_never_import_rich() -> None:
    code = (
        "import sys\nfrom cnnscope.cli.entry import run\n"
        "code = run(['inspect', 'lenet5', '--json'])\n"
        "assert code == 0 and not [m for m in sys.modules if m.startswith('rich')], code\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)


def test_verify_loads_neither_dynamo_nor_sympy() -> None:
    """FlopCounterMode's first call imported torch._dynamo, and to_empty on meta tensors sympy: seconds."""
    pytest.importorskip("torch")
    code = (
        "import sys, torch\nfrom cnnscope.runtime.build import build\nfrom cnnscope.runtime.verify import verify\n"
        "assert verify(build('lenet5', init=False).eval(), torch.device('cpu')).ok\n"
        "loaded = [m for m in ('torch._dynamo', 'sympy') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
