"""The classes of a model's output: their names (ImageNet-1k and the digits ship with the package) and
whether the output is already probabilities."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cnnscope.spec import Spec

BUILTIN = {"imagenet": "imagenet_classes.txt"}


def class_names(spec: Spec, override: str | None = None) -> list[str] | None:
    """Names from ``--labels``, else the spec's ``labels``; None when neither says."""
    source = override or spec.preprocess.labels
    if source is None:
        return None
    if source == "digits":
        return [str(d) for d in range(10)]
    if source in BUILTIN:
        text = resources.files("cnnscope.data").joinpath(BUILTIN[source]).read_text(encoding="utf-8")
        return text.splitlines()
    path = Path(source)
    if not path.is_absolute() and override is None and spec.path:
        path = Path(spec.path).parent / path
    from cnnscope.files import read_text

    return [line.strip() for line in read_text(path, "a labels file").splitlines() if line.strip()]


def class_label(index: int, names: list[str] | None) -> str:
    """The name of class ``index``, or "class N" where the names do not say."""
    return names[index] if names and index < len(names) else f"class {index}"


def ends_in_softmax(spec: Spec) -> bool:
    """Whether the model's (first) output is already probabilities."""
    first = spec.returns.first
    last = next((node for node in spec.nodes if node.name == first), None)
    if last is None:  # the model returns its input
        return False
    return (last.act is not None and last.act.gives_probabilities) or last.layer.gives_probabilities
