"""The layering rule, read from the source: only the torch side imports torch at module level.

The torch side is ``cnnscope/runtime``, ``cnnscope/importer/trace.py`` (torch.fx's reading of a
torch model) and ``cnnscope/layers/modules.py`` (torch modules that torch.nn lacks, imported by the
layer types' ``torch_module`` methods only). Everything else (the static engine, reports, the CLI,
the TUI, pictures, and the rest of the importer: folding, writing, the ONNX reader, so that
``cnnscope import model.onnx`` runs without torch) must import torch, torchvision or a torch-side
module inside a function, or under ``if TYPE_CHECKING``, so that static commands start in a
fraction of a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnnscope"
TORCH_SIDE = ("cnnscope/runtime/", "cnnscope/importer/trace.py", "cnnscope/layers/modules.py")
TORCH_PACKAGES = ("torch", "torchvision")


def _torch_side(module: str) -> bool:
    path = module.replace(".", "/")
    return any(path == side.rstrip("/").removesuffix(".py") or path.startswith(side) for side in TORCH_SIDE)


def _module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import that runs when the module is imported (not in functions or TYPE_CHECKING)."""
    found: list[tuple[int, str]] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                pending += node.body
            pending += node.orelse
        elif isinstance(node, (ast.Try, ast.With)):
            pending += node.body
            for handler in getattr(node, "handlers", []):
                pending += handler.body
            pending += getattr(node, "orelse", []) + getattr(node, "finalbody", [])
        elif isinstance(node, ast.ClassDef):
            pending += node.body  # a class body runs at import
    return found


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(TORCH_SIDE):
            continue
        for line, module in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] in TORCH_PACKAGES or (module.startswith("cnnscope.") and _torch_side(module)):
                found.append(f"{relative}:{line} imports {module} at module level")
    return found


def test_only_the_torch_side_imports_torch_at_module_level():
    assert violations() == []


def test_the_rule_sees_what_it_must(tmp_path):
    """The checker itself: module-level and class-level imports count, functions and TYPE_CHECKING do not."""
    source = (
        "from typing import TYPE_CHECKING\nimport torch\nfrom cnnscope.runtime.build import build\n"
        "if TYPE_CHECKING:\n    import torchvision.io\ndef f():\n    import torch.fx\n"
        "class C:\n    from torchvision import ops\ntry:\n    import torchvision.models\nexcept ImportError:\n    pass\n"
    )
    modules = {module for _, module in _module_level_imports(ast.parse(source))}
    assert {"torch", "cnnscope.runtime.build", "torchvision.ops", "torchvision.models"} <= modules
    assert not {"torch.fx", "torchvision.io"} & modules
    assert _torch_side("cnnscope.runtime.build") and _torch_side("cnnscope.layers.modules")
    assert _torch_side("cnnscope.importer.trace")
    assert not _torch_side("cnnscope.layers.base") and not _torch_side("cnnscope.vision.run")
    assert not _torch_side("cnnscope.importer.fold") and not _torch_side("cnnscope.importer")
