"""cnnscope: CNN architectures as TOML specs, with every number shown and checkable.

The static side (``cnnscope.spec``, ``cnnscope.analysis``) never imports torch.
"""

from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import SpecError
from cnnscope.spec import Spec, load, parse

__version__ = "0.1.0"
__all__ = ["Analysis", "Spec", "SpecError", "analyze", "load", "parse"]
