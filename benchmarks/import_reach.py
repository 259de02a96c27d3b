"""How much of what people actually have `cnnscope import` reads: timm's CNN families and
torchvision's models outside classification (the import-reach issue's public list).

    python benchmarks/import_reach.py [--only NAME[,NAME...] ...] [--no-fvcore] [--markdown]

Each model is created with random weights in eval mode and imported at its default input size
(timm's ``pretrained_cfg["input_size"]``); the written spec must load the model's state_dict
strictly and give the same outputs, at that size and at a second size the model accepts (which
catches sizes frozen into numbers). MACs are compared with fvcore's ``FlopCountAnalysis`` total,
timed in the same run. One row per model; the first line of the error where it fails.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from typing import Any

TIMM = (
    "resnet50d",
    "seresnext26d_32x4d",
    "ecaresnet26t",
    "resnest14d",
    "res2net50_14w_8s",
    "skresnet18",
    "resnetv2_50x1_bit",
    "nf_resnet26",
    "efficientnet_b0",
    "tf_efficientnet_b0",
    "efficientnetv2_rw_t",
    "mobilenetv3_large_100",
    "mobilenetv4_conv_small",
    "mixnet_s",
    "ghostnet_100",
    "regnety_002",
    "regnetz_b16",
    "densenet121",
    "dpn68",
    "vovnet39a",
    "cspdarknet53",
    "repvgg_a0",
    "xception41",
    "inception_v3",
    "inception_resnet_v2",
    "convnext_atto",
    "convnextv2_atto",
    "hrnet_w18_small",
    "dla34",
    "dm_nfnet_f0",
)

TORCHVISION = {
    "fcn_resnet50": ("segmentation", (3, 224, 224)),
    "deeplabv3_mobilenet_v3_large": ("segmentation", (3, 224, 224)),
    "lraspp_mobilenet_v3_large": ("segmentation", (3, 224, 224)),
    "r3d_18": ("video", (3, 16, 224, 224)),
    "mc3_18": ("video", (3, 16, 224, 224)),
    "r2plus1d_18": ("video", (3, 16, 224, 224)),
    "s3d": ("video", (3, 16, 224, 224)),
    "fasterrcnn_mobilenet_v3_large_fpn.backbone": ("detection", (3, 224, 224)),
}


def timm_model(name: str) -> tuple[Any, tuple[int, ...]]:
    import timm

    model = timm.create_model(name, pretrained=False)
    return model, tuple(model.pretrained_cfg["input_size"])


def torchvision_model(name: str) -> tuple[Any, tuple[int, ...]]:
    import torchvision

    family, size = TORCHVISION[name]
    if name.endswith(".backbone"):
        model = getattr(torchvision.models.detection, name.split(".")[0])(weights=None, weights_backbone=None)
        return model.backbone, size
    group = getattr(torchvision.models, family)
    kwargs = {"weights_backbone": None} if family == "segmentation" else {}
    return getattr(group, name)(weights=None, **kwargs), size


def second_size(size: tuple[int, ...]) -> tuple[int, ...]:
    """Another input size the model should take: 32 pixels more per spatial side."""
    return (*size[:-2], size[-2] + 32, size[-1] + 32)


def measure(make: Callable[[], tuple[Any, tuple[int, ...]]], fvcore: bool) -> dict[str, Any]:
    import torch

    from cnnscope import from_module
    from cnnscope.analysis import analyze
    from cnnscope.importer import check_import
    from cnnscope.peers import count_as

    torch.manual_seed(0)
    model, size = make()
    model.eval()
    row: dict[str, Any] = {"input": "x".join(map(str, size))}
    start = time.perf_counter()
    spec = from_module(model, size)
    difference = check_import(model, spec)
    row["import_s"] = time.perf_counter() - start
    row["lines"] = sum(1 for line in (spec.source or "").splitlines() if line.strip() and not line.startswith("#"))
    row["difference"] = difference
    other = second_size(size)
    row["second_difference"] = check_import(model, spec.with_input(other))
    if fvcore:
        from fvcore.nn import FlopCountAnalysis

        start = time.perf_counter()
        with torch.no_grad():
            theirs = FlopCountAnalysis(model, torch.zeros(1, *size))
            theirs.unsupported_ops_warnings(False)
            theirs.uncalled_modules_warnings(False)
            total = theirs.total()
        row["fvcore_s"] = time.perf_counter() - start
        row["fvcore"] = total
        row["ours"] = count_as(analyze(spec), "fvcore").total
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="*", help="model names, apart or by commas (timm's, or torchvision's from the list)"
    )
    parser.add_argument("--no-fvcore", action="store_true", help="skip the fvcore comparison")
    args = parser.parse_args()
    names = [name for given in args.only for name in given.split(",") if name] if args.only else [*TIMM, *TORCHVISION]
    done = 0
    print("| model | input | imported | lines | import s | fvcore s | MACs (fvcore) | ours / fvcore | note |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for name in names:
        make = (lambda n=name: torchvision_model(n)) if name in TORCHVISION else (lambda n=name: timm_model(n))
        try:
            row = measure(make, fvcore=not args.no_fvcore)
        except Exception as exc:  # a row per model, whatever happens
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            where = (
                ""
                if type(exc).__module__.startswith("cnnscope")
                else f" ({traceback.extract_tb(exc.__traceback__)[-1].name})"
            )
            print(f"| {name} | | no | | | | | | {type(exc).__name__}: {first}{where} |", flush=True)
            continue
        equal = row["difference"] < 1e-4 and row["second_difference"] < 1e-4
        done += equal
        ratio = f"{row['ours'] / row['fvcore']:.4f}" if row.get("fvcore") else ""
        fv = f"{row['fvcore_s']:.1f}" if "fvcore_s" in row else ""
        macs = f"{row['fvcore']:,}" if "fvcore" in row else ""
        note = "" if equal else f"outputs differ by {max(row['difference'], row['second_difference']):.2g}"
        print(
            f"| {name} | {row['input']} | {'yes' if equal else 'no'} | {row['lines']} | {row['import_s']:.1f} | {fv}"
            f" | {macs} | {ratio} | {note} |",
            flush=True,
        )
    print(f"\n{done} of {len(names)} imported with equal outputs at both sizes")


if __name__ == "__main__":
    main()
