"""How much of what people actually have `cnnscope import` reads: timm's CNN families and
torchvision's models outside classification (the import-reach issue's public list).

    python benchmarks/import_reach.py [--only NAME[,NAME...] ...] [--no-fvcore] [--runs N]

Each model is created with random weights in eval mode and imported at its default input size
(timm's ``pretrained_cfg["input_size"]``); the written spec must load the model's state_dict
strictly and give the same outputs, at that size and at a second size the model accepts (which
catches sizes frozen into numbers). MACs are compared with fvcore's ``FlopCountAnalysis`` total,
timed in the same run, beside one plain forward pass of the model at batch 1: an import that checks
what it wrote runs the model and the spec once each, so "2 forwards / fvcore" is the lowest
"import / fvcore" any such check can reach. One row per model; the first line of the error where it fails.
"""

from __future__ import annotations

import argparse
import statistics
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


def measure(make: Callable[[], tuple[Any, tuple[int, ...]]], fvcore: bool, runs: int) -> dict[str, Any]:
    """One model's row. The import is timed as the command does it (read, write, then the spec checked
    against the reading's own run of the model), fvcore's ``FlopCountAnalysis(...).total()`` beside it,
    the two in turn ``runs`` times, medians."""
    import torch

    from cnnscope.analysis import analyze
    from cnnscope.importer import check_import, read_module
    from cnnscope.peers import count_as

    torch.manual_seed(0)
    model, size = make()
    model.eval()
    row: dict[str, Any] = {"input": "x".join(map(str, size))}
    ours: list[float] = []
    theirs: list[float] = []
    forwards: list[float] = []
    x = torch.randn(1, *size)
    for _ in range(runs):
        start = time.perf_counter()
        spec, run = read_module(model, size)
        row["difference"] = check_import(model, spec, against=run)
        ours.append(time.perf_counter() - start)
        if fvcore:
            start = time.perf_counter()
            row["fvcore"] = fvcore_total(model, size)
            theirs.append(time.perf_counter() - start)
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
            forwards.append(time.perf_counter() - start)
    row["import_s"] = statistics.median(ours)
    row["forward_s"] = statistics.median(forwards)
    row["lines"] = sum(1 for line in (spec.source or "").splitlines() if line.strip() and not line.startswith("#"))
    # a new random batch of two, at a second size: sizes frozen into numbers, or a batch axis misread, show here
    row["second_difference"] = check_import(model, spec.with_input(second_size(size)))
    if fvcore:
        row["fvcore_s"] = statistics.median(theirs)
        row["ours"] = count_as(analyze(spec), "fvcore").total
    return row


def fvcore_total(model: Any, size: tuple[int, ...]) -> int:
    import torch
    from fvcore.nn import FlopCountAnalysis

    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.zeros(1, *size))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="*", help="model names, apart or by commas (timm's, or torchvision's from the list)"
    )
    parser.add_argument("--no-fvcore", action="store_true", help="skip the fvcore comparison")
    parser.add_argument("--runs", type=int, default=3, help="times each (ours and fvcore, in turn); medians")
    args = parser.parse_args()
    names = [name for given in args.only for name in given.split(",") if name] if args.only else [*TIMM, *TORCHVISION]
    done = 0
    print(
        "| model | input | imported | lines | import s | fvcore s | import / fvcore | forward s | 2 forwards / fvcore"
        " | MACs (fvcore) | ours / fvcore | note |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    speeds: list[float] = []
    for name in names:
        make = (lambda n=name: torchvision_model(n)) if name in TORCHVISION else (lambda n=name: timm_model(n))
        try:
            row = measure(make, fvcore=not args.no_fvcore, runs=args.runs)
        except Exception as exc:  # a row per model, whatever happens
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            where = (
                ""
                if type(exc).__module__.startswith("cnnscope")
                else f" ({traceback.extract_tb(exc.__traceback__)[-1].name})"
            )
            print(f"| {name} | | no | | | | | | | | | {type(exc).__name__}: {first}{where} |", flush=True)
            continue
        equal = row["difference"] < 1e-4 and row["second_difference"] < 1e-4
        done += equal
        ratio = f"{row['ours'] / row['fvcore']:.4f}" if row.get("fvcore") else ""
        fv = f"{row['fvcore_s']:.2f}" if "fvcore_s" in row else ""
        speed = row["import_s"] / row["fvcore_s"] if "fvcore_s" in row else None
        speeds += [speed] if speed is not None else []
        macs = f"{row['fvcore']:,}" if "fvcore" in row else ""
        note = "" if equal else f"outputs differ by {max(row['difference'], row['second_difference']):.2g}"
        floor = f"{2 * row['forward_s'] / row['fvcore_s']:.2f}" if "fvcore_s" in row else ""
        print(
            f"| {name} | {row['input']} | {'yes' if equal else 'no'} | {row['lines']} | {row['import_s']:.2f} | {fv}"
            f" | {f'{speed:.2f}' if speed is not None else ''} | {row['forward_s']:.2f} | {floor} | {macs} | {ratio}"
            f" | {note} |",
            flush=True,
        )
    print(f"\n{done} of {len(names)} imported with equal outputs at both sizes")
    if speeds:
        print(
            f"import / fvcore time: median {statistics.median(speeds):.2f}, from {min(speeds):.2f}"
            f" to {max(speeds):.2f}; {sum(s <= 1 for s in speeds)} of {len(speeds)} no slower than fvcore"
        )


if __name__ == "__main__":
    main()
