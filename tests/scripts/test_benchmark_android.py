"""``scripts/benchmark_android.sh`` driven end to end against a fake ``adb``.

The fake is a small executable put first on the PATH: it records every call (one JSON list a
line) and answers like a phone — ``adb devices``, ``getprop``, ``push``, ``chmod`` and
``benchmark_model`` runs that print realistic output with different numbers per file and thread
count. Needs bash and Python only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "benchmark_android.sh"
DOCS = ROOT / "docs" / "android.md"

# (avg us, std us, median us or None) per file name and thread count. A median makes the fake
# print a recent benchmark_model's output ("INFO: " prefixes, p5/median/p95, CRLF line ends, an
# avg in scientific notation); None an older one's.
TIMINGS = {
    "model.tflite": {"1": [8000.0, 80.0, None], "4": [2500.0, 40.0, None]},
    "model_int8.tflite": {"1": [3012.5, 45.0, 3005.0], "4": [1100.0, 30.0, 1090.0]},
}

FAKE_ADB = r'''#!PYTHON -S
"""A fake adb: records its arguments and answers like one attached phone (or several)."""
import json, os, re, sys

args = sys.argv[1:]
with open(os.environ["FAKE_ADB_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\n")
devices = [entry.split(":") for entry in os.environ["FAKE_ADB_DEVICES"].split(",") if entry]
ready = [serial for serial, state in devices if state == "device"]
if args == ["devices"]:
    print("List of devices attached")
    for serial, state in devices:
        print(f"{serial}\t{state}")
    print()
    sys.exit(0)
if args[:1] == ["-s"]:
    if args[1] not in ready:
        sys.exit(f"adb: device '{args[1]}' not found")
    args = args[2:]
elif len(ready) != 1:
    sys.exit("adb: more than one device/emulator")
if args[0] == "push":
    if not os.path.isfile(args[1]):
        sys.exit(f"adb: error: cannot stat '{args[1]}': No such file or directory")
    print(f"{args[1]}: 1 file pushed, 0 skipped. 12.3 MB/s")
    sys.exit(0)
if args[0] != "shell":
    sys.exit(f"fake adb: unexpected call {args}")
command = args[1:]
if command == ["getprop", "ro.product.cpu.abi"]:
    sys.stdout.write(os.environ["FAKE_ADB_ABI"] + "\r\n")  # old phones end lines with CRLF
    sys.exit(0)
if command == ["getprop", "ro.product.model"]:
    print("Pixel Fake")
    sys.exit(0)
if command[0] == "chmod":
    sys.exit(0)
if command[0] != "/data/local/tmp/benchmark_model":
    sys.exit(f"fake adb: unexpected shell command {command}")

flags = dict(arg[2:].split("=", 1) for arg in command[1:])
name = re.sub(r"^[0-9]+_", "", os.path.basename(flags["graph"]))  # "2_model.tflite"
timings = json.loads(os.environ["FAKE_ADB_TIMINGS"]).get(name, {}).get(flags["num_threads"])
if timings is None:
    print(f"ERROR: Could not open '{flags['graph']}'.")
    sys.exit(1)
avg, std, median = timings
runs = int(flags["num_runs"]) + 7  # benchmark_model runs at least --num_runs (and >= 1 s)
recent = median is not None
warmup = f"count=30 first={avg * 1.5:g} curr={avg:g} min={avg * 0.9:g} max={avg * 1.5:g} "
warmup += f"avg={avg * 1.1:g} std={std * 9:g}"
timed = f"count={runs} first={avg * 1.1:g} curr={avg:g} min={avg - 3 * std:g} "
timed += f"max={avg + 5 * std:g} "
if recent:
    warmup += f" p5={avg:g} median={avg * 1.05:g} p95={avg * 1.4:g}"
    timed += f"avg={avg:.4e} std={std:g} p5={avg - 2 * std:g} median={median:g} "
    timed += f"p95={avg + 2 * std:g}"
else:
    timed += f"avg={avg:g} std={std:g}"
lines = [
    "STARTING!",
    f"Min num runs: [{flags['num_runs']}]",
    f"Num threads: [{flags['num_threads']}]",
    f"Graph: [{flags['graph']}]",
    f"Loaded model {flags['graph']}",
    "Initialized TensorFlow Lite runtime.",
    "Created TensorFlow Lite XNNPACK delegate for CPU.",
    "Replacing 12 out of 12 node(s) with delegate (TfLiteXNNPackDelegate) node, "
    "yielding 1 partitions for the whole graph.",
    "The input model file size (MB): 0.474",
    "Initialized session in 12.5ms.",
    "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if "
    "exceeding 150 seconds.",
    warmup,
    "",
    f"Running benchmark for at least {flags['num_runs']} iterations and at least 1 seconds but "
    "terminate if exceeding 150 seconds.",
    timed,
    "",
    f"Inference timings in us: Init: 12500, First inference: {avg * 1.5:g}, "
    f"Warmup (avg): {avg * 1.1:g}, Inference (avg): {avg:g}",
    "Memory footprint delta from the start of the tool (MB): init=3.2 overall=5.1",
]
# Recent builds log through TFLITE_LOG ("INFO: " prefixes); adb shell may send CRLF.
prefix, end = ("INFO: ", "\r\n") if recent else ("", "\n")
sys.stdout.write("".join(prefix + line + end if line else end for line in lines))
'''


def path_without_adb() -> str:
    """The PATH with every directory that holds an ``adb`` left out."""
    return os.pathsep.join(directory for directory in os.environ.get("PATH", "").split(os.pathsep)
                           if directory and not os.path.exists(os.path.join(directory, "adb")))


@pytest.fixture
def phone(tmp_path):
    """A fake adb on the PATH, two model files and a benchmark_model binary; ``run(*args)``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.replace("PYTHON", sys.executable, 1))
    adb.chmod(0o755)
    models = tmp_path / "models_full-prec"
    models.mkdir()
    for name in TIMINGS:
        (models / name).write_bytes(b"TFL3 fake model")
    binary = tmp_path / "android_aarch64_benchmark_model"
    binary.write_bytes(b"\x7fELF fake")
    calls_file = tmp_path / "calls.jsonl"

    class Phone:
        root = tmp_path
        model_files = [str(models / name) for name in TIMINGS]
        benchmark_model = str(binary)
        environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{path_without_adb()}",
                       "FAKE_ADB_CALLS": str(calls_file), "FAKE_ADB_DEVICES": "R58M1234:device",
                       "FAKE_ADB_ABI": "arm64-v8a", "FAKE_ADB_TIMINGS": json.dumps(TIMINGS)}

        def run(self, *args: str, **environment: str) -> subprocess.CompletedProcess:
            return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path,
                                  env={**self.environment, **environment}, capture_output=True,
                                  text=True, timeout=60)

        def calls(self) -> list[list[str]]:
            if not calls_file.exists():
                return []
            return [json.loads(line) for line in calls_file.read_text().splitlines()]

    return Phone()


def standard_args(phone) -> list[str]:
    return [*phone.model_files, "--benchmark_model", phone.benchmark_model, "--threads", "1,4"]


# ------------------------------------------------------------------------------ errors
def test_no_adb_on_the_path(phone):
    result = phone.run(*standard_args(phone), PATH=path_without_adb())
    assert result.returncode != 0
    assert "adb not found on the PATH" in result.stderr
    assert "platform-tools" in result.stderr


@pytest.mark.parametrize("devices, expected", [
    ("", "no device attached"),
    ("R58M1234:unauthorized", "R58M1234 (unauthorized)"),
])
def test_no_ready_device(phone, devices, expected):
    result = phone.run(*standard_args(phone), FAKE_ADB_DEVICES=devices)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "USB debugging" in result.stderr and "adb devices" in result.stderr


def test_two_devices_need_a_serial_and_then_work(phone):
    devices = "R58M1234:device,emulator-5554:device"
    result = phone.run(*standard_args(phone), FAKE_ADB_DEVICES=devices)
    assert result.returncode != 0
    assert "--serial" in result.stderr
    assert "R58M1234" in result.stderr and "emulator-5554" in result.stderr
    assert phone.calls() == [["devices"]]

    result = phone.run(*standard_args(phone), "--serial", "emulator-5554",
                       FAKE_ADB_DEVICES=devices)
    assert result.returncode == 0, result.stderr
    device_calls = phone.calls()[2:]  # after the two `adb devices`
    assert device_calls and all(call[:2] == ["-s", "emulator-5554"] for call in device_calls)
    rows = json.loads((phone.root / "android_benchmark.json").read_text())
    assert {row["serial"] for row in rows} == {"emulator-5554"}


def test_a_serial_that_is_not_attached(phone):
    result = phone.run(*standard_args(phone), "--serial", "XYZ")
    assert result.returncode != 0
    assert "--serial XYZ" in result.stderr and "R58M1234" in result.stderr


def test_an_unknown_abi(phone):
    result = phone.run(*standard_args(phone), FAKE_ADB_ABI="mips")
    assert result.returncode != 0
    assert "'mips'" in result.stderr and "arm64-v8a" in result.stderr


def test_a_model_file_that_does_not_exist(phone):
    missing = str(phone.root / "models_channel" / "model.tflite")
    result = phone.run(phone.model_files[0], missing, "--benchmark_model", phone.benchmark_model)
    assert result.returncode != 0
    assert missing in result.stderr and "does not exist" in result.stderr
    assert phone.calls() == []  # checked before adb is asked anything


@pytest.mark.parametrize("abi, prebuilt, config", [
    ("arm64-v8a", "android_aarch64_benchmark_model", "android_arm64"),
    ("armeabi-v7a", "android_arm_benchmark_model", "android_arm"),
    ("x86_64", None, "android_x86_64"),
])
def test_a_missing_benchmark_model(phone, abi, prebuilt, config):
    result = phone.run(*phone.model_files, FAKE_ADB_ABI=abi)
    assert result.returncode != 0
    assert "--benchmark_model" in result.stderr and abi in result.stderr
    if prebuilt:
        assert prebuilt in result.stderr
    assert (f"bazel build -c opt --config={config} "
            "//tensorflow/lite/tools/benchmark:benchmark_model") in result.stderr
    assert not any("push" in call for call in phone.calls())


def test_a_benchmark_model_path_that_does_not_exist(phone):
    missing = str(phone.root / "nowhere" / "benchmark_model")
    result = phone.run(*phone.model_files, "--benchmark_model", missing)
    assert result.returncode != 0
    assert missing in result.stderr and "does not exist" in result.stderr


@pytest.mark.parametrize("args, expected", [
    (["--threads", "0,4"], "--threads"),
    (["--runs", "many"], "--runs"),
    (["--delegates", "xnnpack,hexagon"], "hexagon"),
    (["--frobnicate"], "unknown option --frobnicate"),
])
def test_bad_arguments(phone, args, expected):
    result = phone.run(*standard_args(phone), *args)
    assert result.returncode != 0
    assert expected in result.stderr


# ------------------------------------------------------------------------------ happy path
def test_two_models_two_thread_counts(phone):
    out = phone.root / "results.json"
    result = phone.run(*standard_args(phone), "--runs", "20", "--out", str(out))
    assert result.returncode == 0, result.stderr

    rows = json.loads(out.read_text())
    assert [(pathlib.Path(row["model_file"]).name, row["threads"]) for row in rows] == [
        ("model.tflite", 1), ("model.tflite", 4), ("model_int8.tflite", 1),
        ("model_int8.tflite", 4)]
    for row in rows:
        avg, std, median = TIMINGS[pathlib.Path(row["model_file"]).name][str(row["threads"])]
        assert row["model_file"] in phone.model_files
        assert row["mean_ms"] == pytest.approx(avg / 1000)
        assert row["stdev_ms"] == pytest.approx(std / 1000)  # the timed runs', not the warm-up's
        assert row["median_ms"] == (None if median is None else pytest.approx(median / 1000))
        assert row["min_ms"] == pytest.approx((avg - 3 * std) / 1000)
        assert row["repeats"] == 27  # the count benchmark_model reports, not --num_runs
        assert row["init_ms"] == pytest.approx(12.5)
        assert row["delegate"] == "xnnpack"
        assert row["delegated"] == [{"name": "TfLiteXNNPackDelegate", "nodes": 12, "total": 12}]
        assert (row["device"], row["serial"], row["abi"]) == ("Pixel Fake", "R58M1234",
                                                               "arm64-v8a")
        assert "p10_ms" not in row and "p90_ms" not in row  # never invented

    table = {tuple(line.split()[:3]): line.split()[3:] for line in result.stdout.splitlines()
             if ".tflite" in line}
    assert table == {
        (phone.model_files[0], "1", "xnnpack"): ["8.000", "0.080", "n/a"],
        (phone.model_files[0], "4", "xnnpack"): ["2.500", "0.040", "n/a"],
        (phone.model_files[1], "1", "xnnpack"): ["3.013", "0.045", "3.005"],
        (phone.model_files[1], "4", "xnnpack"): ["1.100", "0.030", "1.090"],
    }

    calls = phone.calls()
    assert calls[0] == ["devices"]
    serial_calls = [call[2:] for call in calls[1:]]
    assert all(call[:2] == ["-s", "R58M1234"] for call in calls[1:])
    assert ["shell", "getprop", "ro.product.cpu.abi"] in serial_calls
    pushes = [call[1:] for call in serial_calls if call[0] == "push"]
    assert pushes == [[phone.benchmark_model, "/data/local/tmp/benchmark_model"],
                      [phone.model_files[0], "/data/local/tmp/model.tflite"],
                      [phone.model_files[1], "/data/local/tmp/model_int8.tflite"]]
    assert ["shell", "chmod", "+x", "/data/local/tmp/benchmark_model"] in serial_calls
    runs = [call[1:] for call in serial_calls
            if call[:2] == ["shell", "/data/local/tmp/benchmark_model"]]
    assert runs == [["/data/local/tmp/benchmark_model", f"--graph=/data/local/tmp/{name}",
                     f"--num_threads={threads}", "--num_runs=20", "--use_xnnpack=true"]
                    for name in TIMINGS for threads in (1, 4)]


def test_gpu_and_nnapi_delegates_pass_their_flags(phone):
    result = phone.run(phone.model_files[0], "--benchmark_model", phone.benchmark_model,
                       "--threads", "4", "--delegates", "xnnpack,gpu,nnapi")
    assert result.returncode == 0, result.stderr
    runs = [call[-1] for call in phone.calls() if "/data/local/tmp/benchmark_model" in call[3:4]]
    assert runs == ["--use_xnnpack=true", "--use_gpu=true", "--use_nnapi=true"]
    rows = json.loads((phone.root / "android_benchmark.json").read_text())
    assert [row["delegate"] for row in rows] == ["xnnpack", "gpu", "nnapi"]


def test_files_with_the_same_name_get_distinct_remote_names(phone):
    other = phone.root / "models_channel"
    other.mkdir()
    (other / "model.tflite").write_bytes(b"TFL3 another")
    result = phone.run(phone.model_files[0], str(other / "model.tflite"), "--threads", "1",
                       "--benchmark_model", phone.benchmark_model)
    assert result.returncode == 0, result.stderr
    pushed = [call[-1] for call in phone.calls() if call[2:3] == ["push"]]
    assert pushed[1:] == ["/data/local/tmp/1_model.tflite", "/data/local/tmp/2_model.tflite"]
    rows = json.loads((phone.root / "android_benchmark.json").read_text())
    assert [row["model_file"] for row in rows] == [phone.model_files[0],
                                                   str(other / "model.tflite")]


def test_a_run_without_timings_fails_after_the_others(phone):
    unknown = phone.root / "unknown.tflite"
    unknown.write_bytes(b"TFL3 unknown")
    result = phone.run(phone.model_files[0], str(unknown), "--threads", "1",
                       "--benchmark_model", phone.benchmark_model)
    assert result.returncode == 1
    assert f"no timings for {unknown} threads=1 delegate=xnnpack" in result.stderr
    assert "Could not open" in result.stderr  # the tail of benchmark_model's output
    rows = json.loads((phone.root / "android_benchmark.json").read_text())
    assert [row["model_file"] for row in rows] == [phone.model_files[0]]


# ------------------------------------------------------------------------------ parser
def load_parser():
    spec = importlib.util.spec_from_file_location("parse_benchmark_model",
                                                  ROOT / "scripts" / "parse_benchmark_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parser_all_same_runs_and_missing_lines():
    parser = load_parser()
    stats = parser.parse_output(
        "count=1 curr=1357602\n\ncount=3 curr=1200(all same)\n\n"
        "Inference timings in us: Init: 5579, First inference: 1357602, "
        "Warmup (avg): 1.3576e+06, Inference (avg): 1200\n")
    assert stats["mean_ms"] == pytest.approx(1.2) and stats["stdev_ms"] == 0.0
    assert stats["min_ms"] == stats["max_ms"] == pytest.approx(1.2)
    assert stats["warmup_mean_ms"] == pytest.approx(1357.6)
    assert stats["repeats"] == 3 and stats["median_ms"] is None
    with pytest.raises(parser.BenchmarkOutputError, match="Inference timings"):
        parser.parse_output("count=3 first=1 curr=1 min=1 max=1 avg=1 std=0\n")
    with pytest.raises(parser.BenchmarkOutputError, match="count="):
        parser.parse_output("Inference timings in us: Init: 1, First inference: 2, "
                            "Warmup (avg): 3, Inference (avg): 4\n")


# ------------------------------------------------------------------------------ help and docs
def help_flags() -> set[str]:
    result = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("usage:")
    return set(re.findall(r"(?<![\w-])--[a-z][a-z_]*", result.stdout))


def documented_commands() -> list[str]:
    """Every command line of docs/android.md's code blocks that runs the script (a trailing
    backslash continues it), from the script's name on."""
    commands, in_block = [], False
    for line in DOCS.read_text().replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block and "benchmark_android.sh" in line:
            commands.append(line[line.index("benchmark_android.sh"):].split("#")[0])
    return commands


def test_help_names_every_flag():
    assert help_flags() == {"--benchmark_model", "--threads", "--serial", "--delegates",
                            "--runs", "--out", "--help"}


def test_every_flag_in_the_docs_is_one_the_script_accepts():
    commands = documented_commands()
    assert len(commands) >= 3, "docs/android.md shows too few benchmark_android.sh commands"
    accepted = help_flags()
    for command in commands:
        unknown = set(re.findall(r"(?<![\w-])--[a-z][a-z_]*", command)) - accepted
        assert not unknown, f"docs/android.md: {command!r} uses {sorted(unknown)}"
    table = [line.split("|")[1] for line in DOCS.read_text().splitlines()
             if line.startswith("| `--")]
    assert {re.match(r" `(--[a-z_]+)", cell).group(1) for cell in table} == accepted - {"--help"}


def test_the_docs_show_the_scripts_usage():
    result = subprocess.run(["bash", str(SCRIPT), "-h"], capture_output=True, text=True,
                            timeout=30)
    usage = result.stdout.split("\n\n")[0]
    assert usage.startswith("usage: scripts/benchmark_android.sh MODEL.tflite")
    assert usage in DOCS.read_text()
