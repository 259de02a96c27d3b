"""Time from a fresh process to the TUI's first paint of a model, and check torch stayed out.

python benchmarks/tui_first_paint.py [resnet152] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import time
start = time.perf_counter()
import asyncio, json, sys
from cnnscope.tui.app import CnnscopeApp
from cnnscope.tui.widgets.layer_table import LayerTable

async def main():
    app = CnnscopeApp(sys.argv[1])
    async with app.run_test(size=(120, 36)) as pilot:
        while not app.screen.query(LayerTable) or not app.screen.query_one(LayerTable).row_count:
            await pilot.pause()
        painted = time.perf_counter() - start
        rows = app.screen.query_one(LayerTable).row_count
    print(json.dumps({"seconds": painted, "rows": rows, "torch": "torch" in sys.modules}))

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="resnet152")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    samples = []
    for _ in range(args.runs + 1):  # the first run warms the file cache
        proc = subprocess.run([sys.executable, "-c", CHILD, args.model], capture_output=True, text=True, check=True)
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    times = [s["seconds"] for s in samples[1:]]
    print(
        f"{args.model}: first paint of {samples[-1]['rows']} layer rows in {statistics.median(times):.3f} s median"
        f" ({min(times):.3f}-{max(times):.3f} s over {args.runs} runs); torch imported: {samples[-1]['torch']}"
    )


if __name__ == "__main__":
    main()
