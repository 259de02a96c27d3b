"""Hostile input, run as a user would: ``python -m cnnscope`` in a subprocess with a memory limit
and a timeout. Each case asserts the exit code, a one-line message without a traceback, and what
is left at the output path afterwards. Static commands cost ~0.3 s each; torch commands ~3 s,
so those are few and grouped.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.zygote import cnnscope_process

MEMORY_LIMIT = 6 << 30  # address space: torch maps ~3.5 GiB at import; more than that left is refused
TIMEOUT = 60
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.umask(0o022)
    _as_at_a_terminal()


def _as_at_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it: a suite started in the background (``pytest &``, CI under ``nohup``)
    passes SIGINT on ignored, and cnnscope rightly leaves an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cnnscope(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m cnnscope ARGS``, a fresh process (a fork of a server that has imported torch)."""
    environment = {**os.environ, **THREADS, "CNNSCOPE_HOME": str(cwd / "home"), **(env or {})}
    environment.pop("CNNSCOPE_DEBUG", None)
    return cnnscope_process(list(args), cwd=cwd, env=environment, timeout=TIMEOUT, memory=MEMORY_LIMIT)


def one_line_error(result: subprocess.CompletedProcess, code: int = 2, says: str = "") -> str:
    """The run failed with ``code`` and a single line on stderr, no traceback."""
    message = result.stderr.strip()
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert message.count("\n") == 0 and message.startswith("error:"), message[-2000:]
    assert result.stderr == message + "\n", result.stderr[:200]  # not even a blank line before it
    assert says.lower() in message.lower(), message
    assert len(message) < 800
    return message


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


SPEC = 'name = "{name}"\ninput = [1, 8, 8]\nlayers = [{{name = "c1", type = "conv2d", out = {out}, kernel = 3}}]\n'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (SPEC.format(name="big", out="1" + "0" * 400), "larger than any network"),
        (SPEC.format(name="big", out="9" * 5000), "more than 4,300 digits: larger than any network"),
        (SPEC.format(name="big", out='"(10**64)**64"'), "larger than any network"),
        (SPEC.format(name="minus", out='"' + "-" * 100_000 + '1"'), "whole number"),
        (SPEC.format(name="deep", out=2) + "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (SPEC.format(name="nan", out=2) + "[preprocess]\nmean = [inf]\n", "not a finite number"),
        (SPEC.format(name="kernel", out=2).replace("kernel = 3", "kernel = " + "9" * 30), "larger than any network"),
    ],
    ids=[
        "huge-literal",
        "5000-digit-literal",
        "huge-expression",
        "100k-minus-signs",
        "toml-5000-deep",
        "inf-mean",
        "huge-kernel",
    ],
)
def test_hostile_specs_are_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    spec = write(tmp_path, "hostile.toml", text)
    one_line_error(cnnscope("inspect", str(spec), cwd=tmp_path), says=says)


HUGE_SIZES = {
    "upsample-1e300": '{type = "upsample", scale = 1e300}, {type = "conv2d", out = 4, kernel = 3}',
    "transposed-2-61": ", ".join(
        ['{type = "conv_transpose2d", out = 1, kernel = 2, stride = 2305843009213693952}'] * 20
    ),
    "field-past-2-62": ", ".join(
        ['{type = "conv2d", out = 1, kernel = 1, stride = 4611686018427387904, padding = 2305843009213693952}'] * 300
    ),
}


@pytest.mark.parametrize("layers", HUGE_SIZES.values(), ids=HUGE_SIZES.keys())
def test_huge_but_finite_sizes_are_refused_by_every_static_command(tmp_path: Path, layers: str) -> None:
    """Sizes and receptive fields are checked against 2^62 before arithmetic that overflows a float or
    prints millions of digits; ``check`` calls such a spec invalid (it said "ok")."""
    write(tmp_path, "huge.toml", f"input = [1, 8, 8]\nlayers = [{layers}]\n")
    one_line_error(cnnscope("inspect", "huge.toml", cwd=tmp_path), says="larger than any")
    if "upsample" not in layers:  # the other commands once: they share the analysis
        return
    for command in (["inspect", "--count-as", "thop"], ["inspect", "--json"], ["compare", "lenet5"]):
        one_line_error(cnnscope(*command, "huge.toml", cwd=tmp_path), says="larger than any")
    checked = cnnscope("check", "huge.toml", cwd=tmp_path)
    assert checked.returncode == 2 and checked.stderr.startswith("INVALID huge.toml:2:"), checked.stderr
    assert "larger than any" in checked.stderr and checked.stderr.count("\n") == 1


def test_user_text_is_printed_literally(tmp_path: Path) -> None:
    """Rich markup, links and :emoji: codes in names, titles, papers and paths are text, not commands."""
    title = "[red]hidden [link=https://example.com]click[/link] bin:x:2 [/]"
    spec = write(
        tmp_path,
        "[red]x[dim].toml",
        f'name = "n[/]"\ntitle = "{title}"\npaper = "[/] :x:"\ninput = [1, 8, 8]\n'
        'layers = [{name = "c1", type = "conv2d", out = 2, kernel = 3}]\n',
    )
    for command in (["inspect", str(spec.name)], ["check", spec.name], ["compare", spec.name, spec.name]):
        result = cnnscope(*command, cwd=tmp_path, env={"COLUMNS": "250"})
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "n[/]" in result.stdout or "[red]x[dim].toml" in result.stdout
    table = cnnscope("inspect", spec.name, cwd=tmp_path, env={"COLUMNS": "250"}).stdout
    assert title in table and "\x1b]8;" not in table  # the title whole, no hyperlink escape
    missing = cnnscope("inspect", "[/]missing.toml", cwd=tmp_path)
    assert "[/]missing.toml" in one_line_error(missing)


def test_reads_refuse_devices_fifos_and_long_names(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    start = time.monotonic()
    one_line_error(cnnscope("inspect", str(fifo), cwd=tmp_path), says="not a regular file")
    one_line_error(cnnscope("inspect", "/dev/zero", cwd=tmp_path), says="not a regular file")
    with open(tmp_path / "huge.toml", "wb") as huge:
        huge.truncate(17 << 20)  # sparse: 17 MiB of nothing, over the cap for a spec
    one_line_error(cnnscope("inspect", "huge.toml", cwd=tmp_path), says="allowed for a spec")
    one_line_error(cnnscope("inspect", "x" * 300 + ".toml", cwd=tmp_path), says="too long")
    one_line_error(cnnscope("inspect", "alexnet", "--input", "3x" + "9" * 4400, cwd=tmp_path), says="input size")
    one_line_error(cnnscope("conv", "--padding", "100000", cwd=tmp_path), says="padding")
    matrix = "; ".join(" ".join(["1"] * 2000) for _ in range(3))
    one_line_error(cnnscope("conv", "--image", matrix, "--no-steps", cwd=tmp_path), says="at most")
    assert time.monotonic() - start < 30  # nothing blocks, nothing computes for long


def test_option_errors_and_empty_columns_are_one_line(tmp_path: Path) -> None:
    one_line_error(cnnscope("inspect", "alexnet", "--depth", "x", cwd=tmp_path), says="--depth")
    one_line_error(cnnscope("inspect", "alexnt", cwd=tmp_path, env={"COLUMNS": "0"}), says="did you mean")
    one_line_error(cnnscope("train", "lenet5", "--seed", "-1", cwd=tmp_path), says="--seed")
    one_line_error(cnnscope("train", "lenet5", "--seed", str(2**70), cwd=tmp_path), says="--seed")
    maximize = ("maximize", "lenet5", "--layer", "c3", "--seed")  # torch's generators: 64-bit seeds
    one_line_error(cnnscope(*maximize, str(2**64), cwd=tmp_path), says="--seed")
    one_line_error(cnnscope("train", "lenet5", "--epochs", str(10**20), cwd=tmp_path), says="--epochs")


def test_check_json_and_github_annotations_exclude_each_other(tmp_path: Path) -> None:
    """Both print on stdout, where together neither would parse: a usage error, in either order, nothing printed."""
    for args in (["--json", "--output-format", "github"], ["--output-format=github", "lenet5", "--json"]):
        result = cnnscope("check", *args, cwd=tmp_path)
        assert result.stdout == ""
        one_line_error(result, says="exclude each other")


def test_standard_output_closed_full_or_a_closed_pipe(tmp_path: Path) -> None:
    closed = subprocess.run(
        [sys.executable, "-m", "cnnscope", "inspect", "alexnet"],
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=lambda: os.close(1),
    )
    assert "Traceback" not in closed.stderr and closed.returncode == 0, closed.stderr
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "cnnscope", "inspect", "alexnet"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "space" in result.stderr, result.stderr
    # `cnnscope inspect long.toml | head -1`: the reader goes away after one line, long before the
    # table (some 300 kB, more than a pipe holds) is written
    write(tmp_path, "long.toml", "input = [1, 8, 8]\nlayers = [\n" + '{type = "relu"},\n' * 3000 + "]\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnscope", "inspect", str(tmp_path / "long.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    assert process.wait(timeout=TIMEOUT) == 141
    assert process.stderr.read() == b""


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * (64 << 20))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints that must be refused, each for a reason of its own."""
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("checkpoints")
    made = {
        "text": write(folder, "text.pth", "hello, these are not weights\n" * 10),
        "empty-zip": folder / "empty.pth",
        "zip-bomb": folder / "bomb.pth",
        "int-keys": folder / "int_keys.pth",
        "complex": folder / "complex.pth",
        "meta": folder / "meta.pth",
        "sparse": folder / "sparse.pth",
    }
    zipfile.ZipFile(made["empty-zip"], "w").close()
    _zip_bomb(made["zip-bomb"])
    torch.save({1: torch.zeros(2)}, made["int-keys"])
    torch.save({"w": torch.zeros(2, dtype=torch.complex64)}, made["complex"])
    torch.save({"w": torch.empty(2, device="meta")}, made["meta"])
    torch.save({"w": torch.zeros(2, 2).to_sparse()}, made["sparse"])
    return made


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("text", "not a readable torch checkpoint"),
        ("empty-zip", "empty zip"),
        ("zip-bomb", "zip bomb"),
        ("int-keys", "not a state_dict"),
        ("complex", "complex"),
        ("meta", "meta"),
        ("sparse", "not dense"),
    ],
)
def test_checkpoints_past_the_first_checks_are_refused(checkpoints: dict[str, Path], kind: str, says: str) -> None:
    """In-process (each through the CLI would cost a torch start-up); the CLI path is shown below."""
    from cnnscope.errors import CheckpointError
    from cnnscope.runtime.weights import read_state_dict

    with pytest.raises(CheckpointError, match=says):
        read_state_dict(checkpoints[kind])


def test_torch_commands_refuse_what_would_not_fit_or_hang(tmp_path: Path) -> None:
    """One torch start-up per case: a 1.6 TB request, a FIFO and /dev/urandom as weights, a bad device."""
    one_line_error(
        cnnscope("build", "alexnet", "--input", "3x20000x20000", "--device", "cpu", cwd=tmp_path), says="needs about"
    )
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    one_line_error(cnnscope("verify", "lenet5", "--weights", str(fifo), cwd=tmp_path), says="not a regular file")
    (tmp_path / "random.pth").symlink_to("/dev/urandom")
    one_line_error(cnnscope("export", "lenet5", "--weights", "random.pth", "--out", "x.pth", cwd=tmp_path))
    one_line_error(cnnscope("build", "lenet5", "--device", "cpu:-1", cwd=tmp_path), says="unknown device")
    write(tmp_path, "huge.toml", f"input = [1, 8, 8]\nlayers = [{HUGE_SIZES['upsample-1e300']}]\n")
    one_line_error(cnnscope("build", "huge.toml", "--device", "cpu", cwd=tmp_path), says="larger than any network")
    digits = "input = [1, 4096, 4096]\nlayers = [{type = 'adaptive_avgpool', out = 1}, {type = 'flatten'},"
    write(tmp_path, "digits.toml", digits + " {type = 'linear', out = 10}]\n")  # 1,797 digits of 4096x4096: 360 GB
    one_line_error(cnnscope("train", "digits.toml", "--out", "d.pth", cwd=tmp_path), says="needs about 336.94 GiB")
    assert not (tmp_path / "x.pth").exists()
    home = write(tmp_path, "home-is-a-file", "")
    one_line_error(cnnscope("train", "lenet5", cwd=tmp_path, env={"CNNSCOPE_HOME": str(home)}), says="CNNSCOPE_HOME")
    assert home.read_text() == ""


def test_wide_linear_layer_is_refused_before_allocating(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "wide.toml",
        'name = "wide"\ninput = [100000]\nlayers = [{type = "linear", out = 100000000}]\n',
    )
    one_line_error(cnnscope("build", str(spec), "--device", "cpu", cwd=tmp_path), says="needs about")


def test_export_keeps_the_umask_and_refuses_a_read_only_folder(tmp_path: Path) -> None:
    target = tmp_path / "lenet5.safetensors"
    target.write_bytes(b"old")
    target.chmod(0o644)
    result = cnnscope("export", "lenet5", "--out", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # umask 022, as a new file gets
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        one_line_error(cnnscope("export", "lenet5", "--out", str(locked / "x.pth"), cwd=tmp_path), says="permission")
        assert list(locked.iterdir()) == []
    one_line_error(cnnscope("export", "lenet5", "--out", "model.h5", cwd=tmp_path), says="unknown format")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _digit_image(path: Path) -> Path:
    from PIL import Image

    Image.new("L", (32, 32), 255).save(path)
    return path


def test_run_save_replaces_its_own_folder_whole_and_never_a_users(tmp_path: Path) -> None:
    image = _digit_image(tmp_path / "digit.png")
    user = tmp_path / "user"
    user.mkdir()
    (user / "input.png").write_bytes(b"mine")
    (user / "summary.md").mkdir()  # the crash of the issue: a folder where a file goes
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "summary.md").write_text("old run")
    (earlier / "099_stale.png").write_bytes(b"stale")  # a layer the new model does not have
    refused = cnnscope("run", "lenet5", "--image", str(image), "--save", str(user), "--device", "cpu", cwd=tmp_path)
    one_line_error(refused, says="holds other files")
    assert (user / "input.png").read_bytes() == b"mine" and (user / "summary.md").is_dir()
    replaced = cnnscope("run", "lenet5", "--image", str(image), "--save", str(earlier), "--device", "cpu", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert not (earlier / "099_stale.png").exists() and "lenet5" in (earlier / "summary.md").read_text()
    assert stat.S_IMODE(earlier.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sobel_and_maximize_write_whole_files_or_none(tmp_path: Path) -> None:
    from PIL import Image

    lab = tmp_path / "lab.tif"
    Image.new("LAB", (32, 32), (128, 0, 0)).save(lab)
    lightness = cnnscope("sobel", str(lab), "--save", "edges", cwd=tmp_path)  # its L band is the grayscale
    assert lightness.returncode == 0, lightness.stderr
    assert sorted(p.name for p in (tmp_path / "edges").iterdir()) == ["g.png", "gx.png", "gy.png", "sobel.npz"]
    one_line_error(cnnscope("sobel", str(_digit_image(tmp_path / "d.png")), "--save", "", cwd=tmp_path), says="--save")
    digit = str(tmp_path / "d.png")  # errors found once torch is loaded, under a progress bar, and before it
    one_line_error(cnnscope("run", "lenet5", "--image", digit, "--dtype", "float64", cwd=tmp_path), says="float64")
    one_line_error(cnnscope("run", "unet", "--image", digit, "--cam", cwd=tmp_path), says="not a vector of classes")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        result = cnnscope("sobel", str(tmp_path / "d.png"), "--save", str(locked), cwd=tmp_path)
        one_line_error(result, says="permission")
        assert list(locked.iterdir()) == []


def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    """``timeout`` and CI send SIGTERM: no .part file, no checkpoint, exit 143."""
    destination = tmp_path / "digits.safetensors"
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnscope", "train", "lenet5", "--epochs", "1000", "--out", str(destination)],
        cwd=tmp_path,
        env={**os.environ, **THREADS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and "libtorch" not in maps.read_text(errors="replace"):
        time.sleep(0.2)  # until torch is loaded: the command is then past its imports
    time.sleep(1.5)  # building the model and loading the digits
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_leave_the_old_file_or_folder_on_any_failure(tmp_path: Path) -> None:
    """In-process, SIGTERM included: whatever stops a write, the destination is as it was."""
    from cnnscope.errors import CnnscopeError
    from cnnscope.files import atomic_path, handle_sigterm, replaced_folder, write_bytes_atomically

    target = write(tmp_path, "model.pth", "old")
    previous = signal.getsignal(signal.SIGTERM)
    handle_sigterm()
    try:
        with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
            temporary.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal interrupts this
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.md").write_text("old")
    with pytest.raises(RuntimeError), replaced_folder(folder, lambda _: True) as staging:
        (staging / "summary.md").write_text("new")
        raise RuntimeError("disk full")
    assert (folder / "summary.md").read_text() == "old"
    with replaced_folder(folder, lambda _: True) as staging:
        (staging / "input.png").write_bytes(b"new")
    assert [p.name for p in folder.iterdir()] == ["input.png"]  # replaced whole: nothing stale
    with pytest.raises(CnnscopeError, match="holds other files"), replaced_folder(folder, lambda _: False):
        pass
    with pytest.raises(CnnscopeError, match="empty"):
        write_bytes_atomically("", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth", "run"]


def test_resizing_is_bounded_by_the_result_not_the_source():
    """An 8x1,000,000 strip (under the pixel cap) resized to a 256 shorter side would be 256x32,000,000:
    only the region under the crop is resized. A model input larger than any image is refused."""
    from PIL import Image

    from cnnscope.spec import parse
    from cnnscope.vision.images import ImageError, fit, prepare

    start = time.monotonic()
    strip = Image.new("L", (1_000_000, 8), 200)
    assert fit(strip, (224, 224), 256).size == (224, 224)
    assert fit(Image.new("RGB", (64, 48)), (32, 32), 100_000_000).size == (32, 32)  # resize = 10^8
    assert time.monotonic() - start < 5
    huge = parse(
        'input = [3, 60000, 60000]\nlayers = [{type = "global_avgpool"}]\n[preprocess]\nresize = 60000\n',
        path="huge.toml",
    )
    with pytest.raises(ImageError, match="more than"):
        prepare(Image.new("RGB", (64, 64)), huge)


def test_a_bug_is_one_line_that_says_so(monkeypatch, capsys):
    """What no check foresaw is still no traceback: exit 3 and a line asking for a report."""
    import cnnscope.cli.static
    from cnnscope.cli.entry import INTERNAL, run

    def broken(*args, **kwargs):
        raise ValueError("something no check foresaw")

    monkeypatch.setattr(cnnscope.cli.static, "analyze_target", broken)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert run(["inspect", "alexnet"]) == INTERNAL
    finally:
        signal.signal(signal.SIGTERM, previous)
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "internal error: ValueError: something no check foresaw" in message


def _timed(seconds: float, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    start = time.monotonic()
    result = cnnscope(*args, cwd=cwd)
    assert time.monotonic() - start < seconds, (args, time.monotonic() - start)
    return result


def test_expansion_is_bounded_by_work_not_only_layers(tmp_path: Path) -> None:
    """Nested repeats of a skipped layer, and blocks that call a block twice, 40 levels deep, add no layers
    (or few) but would take hours: the step budget (layers, skipped layers and calls) ends them in seconds."""
    write(
        tmp_path,
        "nested.toml",
        'input = [1, 8, 8]\nlayers = [{block = "a", repeat = 1000}]\n'
        '[blocks.a]\nlayers = [{block = "b", repeat = 1000}]\n[blocks.b]\nlayers = [{block = "c", repeat = 1000}]\n'
        '[blocks.c]\nlayers = [{type = "relu", when = false}]\n',
    )
    binary = 'input = [1, 8, 8]\nlayers = [{block = "b0"}]\n'
    binary += "".join(f'[blocks.b{i}]\nlayers = [{{block = "b{i + 1}"}}, {{block = "b{i + 1}"}}]\n' for i in range(40))
    write(tmp_path, "binary.toml", binary + '[blocks.b40]\nlayers = [{type = "relu"}]\n')
    for command in ("inspect", "check"):
        for spec in ("nested.toml", "binary.toml"):
            result = _timed(10, command, spec, cwd=tmp_path)
            if command == "inspect":
                assert "nested repeats multiply" in one_line_error(result)
            else:  # check reports it as the spec's error, once, on the top-level call's line
                assert result.returncode == 2 and result.stderr.count("\n") == 1 and ":2:" in result.stderr
                assert "nested repeats multiply" in result.stderr


def test_layer_lists_of_any_length_end_within_seconds(tmp_path: Path) -> None:
    """10^6 layers (15 MB) are over the size cap for a spec; 2x10^5 (3 MB) over the layer cap, said as soon as
    the TOML is read. Each used to take minutes (a quadratic line index)."""
    for count, says in ((10**6, "allowed for a spec"), (2 * 10**5, "50,000 allowed")):
        write(tmp_path, "many.toml", "input = [1, 8, 8]\nlayers = [\n" + '{type="relu"},\n' * count + "]\n")
        one_line_error(_timed(10, "inspect", "many.toml", cwd=tmp_path), says=says)


def test_the_line_index_takes_linear_time():
    """The index of layers' lines (for error messages) costs the same per layer for 4,000 layers as for 32,000
    (it counted newlines from the start of the file for every layer: 64 times the time for 8 times the layers)."""
    from cnnscope.spec.parse import _Lines

    def seconds(count: int) -> float:
        text = "input = [1, 8, 8]\nlayers = [\n" + '{type = "relu"},  # a {comment} [\n' * count + "]\n"
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            lines = _Lines(text)
            best = min(best, time.perf_counter() - start)
        assert lines.entries[(None, count - 1)] == count + 2  # the last layer's line, comments' brackets ignored
        return best

    assert seconds(32_000) < 20 * seconds(4_000)


def _strict_json(text: str) -> dict:
    """JSON as the standard has it: NaN and Infinity, which Python writes and reads by default, are refused."""
    import json

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_model_whose_output_is_not_finite_says_so_once(tmp_path: Path) -> None:
    """One NaN weight in c1 spoils every output of lenet5: one warning line, null probabilities and a flag in JSON,
    no heat-map; --save (with --cam and --shared-scale) writes every file, the NaN values drawn grey;
    maximize says how many weights are not finite, with no numpy warnings."""
    safetensors = pytest.importorskip("safetensors.torch")
    import cnnscope as library

    weights = {name: tensor.detach().clone() for name, tensor in library.build("lenet5").state_dict().items()}
    weights["c1.weight"].view(-1)[0] = float("nan")
    safetensors.save_file(weights, tmp_path / "nan.safetensors")
    image = str(_digit_image(tmp_path / "digit.png"))
    run = ("run", "lenet5", "--image", image, "--weights", "nan.safetensors", "--device", "cpu")
    said = "the output of lenet5 is not finite (10 of 10 values are NaN or infinite)"
    result = cnnscope(*run, "--json", "--cam", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr.count("\n") == 1 and said in result.stderr, result.stderr
    document = _strict_json(result.stdout)
    assert document["output_finite"] is False and document["cam"] is None
    assert [p["probability"] for p in document["predictions"]] == [None] * 5
    saved = cnnscope(*run, "--save", "out", "--cam", "--shared-scale", cwd=tmp_path)
    assert saved.returncode == 0 and saved.stderr.count("\n") == 1 and said in saved.stderr, saved.stderr
    assert "Traceback" not in saved.stderr and (tmp_path / "out" / "filters_000_c1.png").is_file()
    assert said in (tmp_path / "out" / "summary.md").read_text()
    maximized = cnnscope("maximize", "lenet5", "--weights", "nan.safetensors", cwd=tmp_path)
    assert maximized.returncode == 0 and maximized.stderr.count("\n") == 1, maximized.stderr
    assert "1 of 150 weights of c1 are NaN or infinite" in maximized.stderr


def test_pictures_draw_values_that_are_not_finite_grey():
    """NaN and infinities take no part in a scale and are drawn in a grey no ramp has; captions count them."""
    import warnings

    import numpy as np

    from cnnscope.vision.pictures import NOT_FINITE, activation_picture, colorize, filter_picture, normalize

    maps = np.arange(2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    maps[0, 0, 0], maps[1, 3, 3] = np.nan, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a cast of NaN
        unit = normalize(maps)
        assert np.isnan(unit[0, 0, 0]) and np.isnan(unit[1, 3, 3])
        assert unit[0, 0, 1] == 0 and unit[1, 3, 2] == 1  # the scale: 1 to 30, the finite values
        assert tuple(colorize(unit)[0, 0, 0]) == NOT_FINITE
        shared = activation_picture(maps, shared=True)
        assert shared.caption.endswith("all on one scale, 1 to 30, 2 of 32 values not finite (grey)")
        vector = activation_picture(np.array([0.5, np.nan, -np.inf]))
        assert vector.caption == "3 values, value per bar"
        weight = np.ones((4, 3, 3, 3))
        weight[2, 1, 0, 0] = np.nan
        assert filter_picture(weight).caption.endswith("1 of 108 values not finite (grey)")


@pytest.fixture
def full_disk(tmp_path: Path):
    """A real full disk: a 1 MiB tmpfs with 40 KiB left (mounting needs root; elsewhere the test is skipped,
    as a simulated ENOSPC would not show what torch's zip writer or Pillow say about a real one)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs to fill: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        (folder / "filler").write_bytes(b"\0" * (1024 - 40) * 1024)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_named_plainly_and_nothing_is_left(tmp_path: Path, full_disk: Path) -> None:
    """sobel --save wrote gx.png and gave up, maximize --save left an empty folder, a .pth write said
    "[enforce fail at inline_container.cc:672] unexpected pos": now one line, "no space left", nothing new."""
    from PIL import Image

    Image.effect_noise((256, 256), 64).save(tmp_path / "noise.png")
    for command in (
        ["sobel", "noise.png", "--save", "full/edges"],
        ["sobel", "noise.png", "--save", "full/new/edges"],
        ["maximize", "lenet5", "--save", "full/units"],
        ["export", "lenet5", "--out", "full/lenet5.pth"],
        ["export", "lenet5", "--out", "full/lenet5.safetensors"],
    ):
        if command[0] == "maximize":  # its picture is small: fill the disk up to the last few kilobytes
            (full_disk / "more").write_bytes(b"\0" * 36 * 1024)
        one_line_error(cnnscope(*command, cwd=tmp_path), says="no space left on the device")
        assert sorted(p.name for p in full_disk.iterdir()) in (["filler"], ["filler", "more"]), command


def _handles_sigterm(pid: int) -> bool:
    """Whether the process catches SIGTERM: cnnscope's entry is running (before it, Python itself starts)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone already
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _interrupted_at(delay: float, *args: str, cwd: Path) -> subprocess.CompletedProcess | None:
    """The command, sent SIGINT ``delay`` seconds after its entry started; None when it had finished by then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnscope", *args],
        cwd=cwd,
        env={**os.environ, **THREADS, "CNNSCOPE_HOME": str(cwd / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limits,
    )
    deadline = time.monotonic() + TIMEOUT
    while not _handles_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is not None:
        process.communicate()
        return None
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    "command",
    [("inspect", "resnet152"), ("check",), ("verify", "lenet5", "--device", "cpu")],
    ids=["inspect", "check", "verify"],
)
def test_sigint_exits_130_in_every_phase(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Ctrl-C from the moment cnnscope's entry runs (before it, the interpreter starts: a Ctrl-C there is
    Python's own), while imports run, while the command works: exit 130, no traceback."""
    start = time.monotonic()
    finished = cnnscope(*command, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    whole = time.monotonic() - start
    for share in (0.0, 0.3):  # the last phase, teardown, is provoked below: its timing cannot be hit
        result = _interrupted_at(share * whole, *command, cwd=tmp_path)
        if result is not None:
            assert result.returncode == 130 and "Traceback" not in result.stderr, (share, result.stderr[-2000:])


INTERRUPTED_IN_A_CALLBACK = """
import os, signal, weakref
from cnnscope import files
files.handle_sigterm()
class Held: pass
held = Held()
ref = weakref.ref(held, lambda _: (os.kill(os.getpid(), signal.SIGINT), sum(range(1000))))
del held  # the callback runs, and Ctrl-C arrives inside it, where Python cannot pass it on
print("went on; interrupted:", files.interrupted())
"""


def test_ctrl_c_inside_a_callback_is_remembered_not_printed() -> None:
    """Ctrl-C inside a weakref callback (importlib's module locks have one) or a finaliser: Python prints it as
    an ignored exception with a traceback. cnnscope remembers it (exit 130) and prints nothing."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IN_A_CALLBACK],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_as_at_a_terminal,
    )
    assert "went on; interrupted: True" in done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_sigint_counts_when_swallowed_or_late(tmp_path: Path) -> None:
    """An interrupt that a library swallows, or that comes in an exit handler once the command is done (as in
    torch's teardown), still makes the exit code 130: `verify` was seen exiting 0 after Ctrl-C under load.
    One caught in an ``exec`` of a string made CPython kill itself with SIGINT (-2) without a word."""
    script = """
import atexit, os, signal, sys
import cnnscope.cli.fast as fast
from cnnscope.cli.entry import main

how, serve = sys.argv.pop(1), fast.serve

def interrupt():
    os.kill(os.getpid(), signal.SIGINT)

def swallowed():
    try:
        interrupt()
    except KeyboardInterrupt:
        pass

def in_exec():  # as dataclasses make their methods: CPython then kills itself with SIGINT at exit
    try:
        exec("interrupt()")
    except KeyboardInterrupt:
        pass

def patched(args):
    code = serve(args)
    {"late": lambda: atexit.register(interrupt), "swallowed": swallowed, "exec": in_exec}[how]()
    return code

fast.serve = patched
main()
"""
    for how in ("late", "swallowed", "exec"):
        result = subprocess.run(
            [sys.executable, "-c", script, how, "list", "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_limits,
        )
        assert result.returncode == 130 and "Traceback" not in result.stderr, (how, result.returncode, result.stderr)
        assert result.stdout.startswith("[")  # the command's output was written whole before
