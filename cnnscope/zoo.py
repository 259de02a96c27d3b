"""The model zoo: the TOML specs in ``specs/``, shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from cnnscope.errors import INSTALLED_ZOO, SpecError, did_you_mean
from cnnscope.rules import UNREADABLE
from cnnscope.spec import Spec, load


def zoo_dir() -> Path:
    """Where the zoo lives: ``cnnscope/zoo`` in an installed wheel, ``specs/`` in a checkout."""
    return INSTALLED_ZOO if INSTALLED_ZOO.is_dir() else Path(__file__).resolve().parent.parent / "specs"


def zoo_names() -> list[str]:
    return sorted(path.stem for path in zoo_dir().glob("*.toml"))


def resolve(target: str) -> Path:
    """A zoo name or a path to a spec file."""
    path = Path(target)
    if path.suffix == ".toml" or path.exists() or "/" in target:
        return path
    candidate = zoo_dir() / f"{target}.toml"
    if candidate.is_file():
        return candidate
    names = zoo_names()
    raise SpecError(
        f"'{target}' is neither a spec file nor a model of the zoo",
        hint=did_you_mean(target, names) or f"the zoo has: {', '.join(names)}",
        code=UNREADABLE,
    )


def load_target(target: str, all_errors: bool = False) -> Spec:
    """``all_errors``: report every independent error of the spec at once (see ``spec.parse``)."""
    return load(resolve(target), all_errors=all_errors)
