#!/usr/bin/env bash
# Every CUDA check and the GPU rows of benchmarks/README.md in one run, for a session lent a GPU
# machine (planned to take under 8 minutes on an H200). It uses that machine's own python3 with
# torch, torchvision, typer and rich, and cnnscope from this tree (no install). Logs go to
# ${OUT:-.}/gpu_*.log.
#
#   bash benchmarks/gpu_session.sh              # on the GPU machine
#   DEVICE=cpu ROUNDS=1 MODELS=resnet18 bash benchmarks/gpu_session.sh   # a dry run of the script itself
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
device=${DEVICE:-cuda}
rounds=${ROUNDS:-9}
models=${MODELS:-resnet152 resnet50 googlenet_tv}
out=${OUT:-.}
status=0

echo "== 1. every zoo spec verifies on $device (static shapes, params and MACs against the runtime)"
for name in $(python3 -m cnnscope list --json | python3 -c 'import json, sys; print(*(m["name"] for m in json.load(sys.stdin)))'); do
  python3 -m cnnscope verify "$name" --device "$device" >/dev/null 2>"$out/verify_error.txt" \
    && echo "ok   $name" || { echo "FAIL $name: $(cat "$out/verify_error.txt")"; status=1; }
done 2>&1 | tee "$out/gpu_verify.log"

echo "== 2. the generated forward equals the step loop and torchvision on $device"
python3 - "$device" <<'PY' 2>&1 | tee "$out/gpu_forward.log" || status=1
import sys

import torch

import cnnscope
from tests.twins import torchvision_twin

device = torch.device(sys.argv[1])
torch.backends.cudnn.deterministic = True  # the same algorithm for both calls: bit-equal outputs
failed = False
for name in ("resnet50", "googlenet_tv", "mobilenet_v2", "densenet121", "efficientnet_b0"):
    reference = torchvision_twin(name).eval()
    model = cnnscope.build(name).eval()
    model.load_state_dict(reference.state_dict())
    model, reference = model.to(device), reference.to(device)
    x = torch.randn(2, *model.spec.input.shape, device=device)
    with torch.no_grad():
        generated, loop, theirs = model(x), model.forward_steps(x), reference(x)
    same = torch.equal(generated, loop)
    close = torch.allclose(generated, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
    failed |= not (same and close)
    print(f"{name:16} generated == loop: {same}   close to torchvision: {close}")
sys.exit(1 if failed else 0)
PY

echo "== 3. throughput and batch-1 latency against torchvision (the GPU rows of issue 16)"
for dtype in float32 float16 bfloat16; do
  # shellcheck disable=SC2086 (the model names are words)
  python3 benchmarks/throughput.py --device "$device" --dtype "$dtype" --batch 64 --latency --rounds "$rounds" \
    --models $models 2>&1 | tee "$out/gpu_throughput_$dtype.log" || status=1
done
exit $status
