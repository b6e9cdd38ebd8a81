#!/usr/bin/env bash
# Times exported .tflite files on an Android phone with TensorFlow Lite's benchmark_model.
#
#   ./scripts/benchmark_android.sh models_full-prec/model.tflite models_full-prec/model_int8.tflite \
#     --benchmark_model ~/Downloads/android_aarch64_benchmark_model --threads 1,4
#
# Pushes benchmark_model and the models to /data/local/tmp over adb, runs every (file, delegate,
# threads), prints one table and writes JSON rows shaped like calc_inference_time's (see
# docs/android.md). Never downloads anything: bring your own benchmark_model binary.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
remote_dir="/data/local/tmp"

usage() {
  cat <<'USAGE'
usage: scripts/benchmark_android.sh MODEL.tflite [MODEL2.tflite ...] --benchmark_model PATH
           [--threads 1,4] [--serial ID] [--delegates xnnpack,gpu,nnapi] [--runs N]
           [--out results.json]

Times each MODEL on the attached Android device with TensorFlow Lite's benchmark_model.

  --benchmark_model PATH  the benchmark_model binary for the device's ABI (required; e.g. the
                          nightly android_aarch64_benchmark_model, see docs/android.md)
  --threads LIST          CPU thread counts, comma-separated (default: 1,4)
  --serial ID             adb serial of the device (required when several are attached)
  --delegates LIST        any of xnnpack, gpu, nnapi, comma-separated (default: xnnpack)
  --runs N                timed runs per file, threads and delegate, at least (passed to
                          benchmark_model as num_runs; default: 50)
  --out PATH              JSON file for the results (default: android_benchmark.json)
  -h, --help              this help

Files are pushed to /data/local/tmp/<file name> (characters other than letters, digits, '.',
'_' and '-' replaced by '_'; prefixed with their position when two share a name) and left
there. Exit status 2 on a usage or setup error, 1 if any run printed no timings.
USAGE
}

fail() {  # fail MESSAGE [MORE_LINES...]: the error on stderr, then exit 2
  echo "benchmark_android.sh: error: $1" >&2
  shift
  local line
  for line in "$@"; do echo "  ${line}" >&2; done
  exit 2
}

# ------------------------------------------------------------------------------ arguments
models=() threads="1,4" serial="" benchmark_model="" delegates="xnnpack" runs=50
out="android_benchmark.json"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --threads|--serial|--benchmark_model|--delegates|--runs|--out)
      [[ $# -ge 2 ]] || fail "expected a value after $1. Received: nothing"
      case "$1" in
        --threads) threads="$2" ;;
        --serial) serial="$2" ;;
        --benchmark_model) benchmark_model="$2" ;;
        --delegates) delegates="$2" ;;
        --runs) runs="$2" ;;
        --out) out="$2" ;;
      esac
      shift 2 ;;
    --threads=*) threads="${1#*=}"; shift ;;
    --serial=*) serial="${1#*=}"; shift ;;
    --benchmark_model=*) benchmark_model="${1#*=}"; shift ;;
    --delegates=*) delegates="${1#*=}"; shift ;;
    --runs=*) runs="${1#*=}"; shift ;;
    --out=*) out="${1#*=}"; shift ;;
    -*) usage >&2; fail "unknown option $1" ;;
    *) models+=("$1"); shift ;;
  esac
done

[[ ${#models[@]} -gt 0 ]] || { usage >&2; fail "expected at least one MODEL.tflite. Received: none"; }
[[ "${threads}" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  fail "expected --threads as positive integers, comma-separated, e.g. 1,4. Received: ${threads}"
[[ "${runs}" =~ ^[1-9][0-9]*$ ]] || fail "expected --runs as a positive integer. Received: ${runs}"
IFS=, read -r -a thread_counts <<<"${threads}"
IFS=, read -r -a delegate_names <<<"${delegates}"
[[ ${#delegate_names[@]} -gt 0 ]] || fail "expected --delegates from xnnpack, gpu, nnapi. Received: nothing"
for delegate in "${delegate_names[@]}"; do
  case "${delegate}" in
    xnnpack|gpu|nnapi) ;;
    *) fail "expected --delegates from xnnpack, gpu, nnapi. Received: ${delegate}" ;;
  esac
done
for model in "${models[@]}"; do
  [[ -f "${model}" ]] || fail "model file ${model} does not exist (expected a .tflite file, e.g. models_full-prec/model.tflite)"
done
if [[ -n "${benchmark_model}" && ! -f "${benchmark_model}" ]]; then
  fail "--benchmark_model ${benchmark_model} does not exist (expected the benchmark_model binary; see docs/android.md)"
fi

# ------------------------------------------------------------------------------ device
command -v adb >/dev/null 2>&1 || fail \
  "adb not found on the PATH." \
  "Install Android SDK platform-tools (Android Studio's SDK Manager, 'sdkmanager platform-tools', or the" \
  "standalone platform-tools download) and put its directory on the PATH; then 'adb devices' lists the phone."

devices=() others=()
while IFS=$'\t' read -r id state _; do
  state="${state%$'\r'}"
  [[ -n "${id}" && -n "${state}" && "${id}" != "List of devices"* && "${id}" != \** ]] || continue
  if [[ "${state}" == "device" ]]; then devices+=("${id}"); else others+=("${id} (${state})"); fi
done < <(adb devices)

if [[ ${#devices[@]} -eq 0 ]]; then
  fail "no device attached: 'adb devices' lists none ready${others:+ (found: ${others[*]})}." \
    "Connect the phone by USB, enable Developer options > USB debugging and accept the" \
    "'Allow USB debugging?' prompt on the phone (an 'unauthorized' device has not), then check 'adb devices'."
fi
if [[ -z "${serial}" ]]; then
  [[ ${#devices[@]} -eq 1 ]] || fail \
    "${#devices[@]} devices attached: ${devices[*]}; expected --serial ID naming one of them"
  serial="${devices[0]}"
else
  found=""
  for id in "${devices[@]}"; do [[ "${id}" == "${serial}" ]] && found=1; done
  [[ -n "${found}" ]] || fail "--serial ${serial} is not attached and ready. Attached: ${devices[*]}"
fi

device_prop() { { adb -s "${serial}" shell getprop "$1" || true; } | tr -d '\r\n'; }
abi="$(device_prop ro.product.cpu.abi)"
case "${abi}" in
  arm64-v8a) prebuilt="android_aarch64_benchmark_model" bazel_config="android_arm64" ;;
  armeabi-v7a) prebuilt="android_arm_benchmark_model" bazel_config="android_arm" ;;
  x86_64) prebuilt="" bazel_config="android_x86_64" ;;
  x86) prebuilt="" bazel_config="android_x86" ;;
  *) fail "device ${serial} has ABI '${abi}' (ro.product.cpu.abi); expected one TensorFlow Lite builds benchmark_model for: arm64-v8a, armeabi-v7a, x86_64, x86" ;;
esac
device="$(device_prop ro.product.model)"

if [[ -z "${benchmark_model}" ]]; then
  get="Build it:"
  [[ -z "${prebuilt}" ]] || get="Get the prebuilt nightly ${prebuilt} linked from TensorFlow Lite's performance-measurement docs, or build it:"
  fail "expected --benchmark_model PATH: the benchmark_model binary for ${abi} (this script downloads nothing)." \
    "${get}" \
    "bazel build -c opt --config=${bazel_config} //tensorflow/lite/tools/benchmark:benchmark_model" \
    "(see docs/android.md)"
fi

# ------------------------------------------------------------------------------ push
echo "device ${device:-?} (${serial}, ${abi})"
adb -s "${serial}" push "${benchmark_model}" "${remote_dir}/benchmark_model" >/dev/null
adb -s "${serial}" shell chmod +x "${remote_dir}/benchmark_model"

remote_names=()
for index in "${!models[@]}"; do
  # adb shell hands the command to the phone's shell as one string: keep names to safe characters
  name="$(basename "${models[index]}" | tr -c 'A-Za-z0-9._\n-' '_')"
  duplicates=0
  for other in "${models[@]}"; do
    [[ "$(basename "${other}" | tr -c 'A-Za-z0-9._\n-' '_')" == "${name}" ]] && duplicates=$((duplicates + 1))
  done
  [[ ${duplicates} -eq 1 ]] || name="$((index + 1))_${name}"
  remote_names+=("${name}")
  adb -s "${serial}" push "${models[index]}" "${remote_dir}/${name}" >/dev/null
done

# ------------------------------------------------------------------------------ run
work_dir="$(mktemp -d)"
trap 'rm -rf "${work_dir}"' EXIT
manifest="${work_dir}/runs.tsv"
: >"${manifest}"
run=0
for index in "${!models[@]}"; do
  for delegate in "${delegate_names[@]}"; do
    case "${delegate}" in
      xnnpack) delegate_flag="--use_xnnpack=true" ;;
      gpu) delegate_flag="--use_gpu=true" ;;
      nnapi) delegate_flag="--use_nnapi=true" ;;
    esac
    for count in "${thread_counts[@]}"; do
      run=$((run + 1))
      log="${work_dir}/run_${run}.log"
      echo "running ${models[index]} threads=${count} delegate=${delegate}" >&2
      adb -s "${serial}" shell "${remote_dir}/benchmark_model" \
        "--graph=${remote_dir}/${remote_names[index]}" "--num_threads=${count}" \
        "--num_runs=${runs}" "${delegate_flag}" >"${log}" 2>&1 ||
        echo "warning: benchmark_model exited with status $? for ${models[index]} threads=${count} delegate=${delegate}" >&2
      printf '%s\t%s\t%s\t%s\n' "${models[index]}" "${count}" "${delegate}" "${log}" >>"${manifest}"
    done
  done
done

python="${repo_root}/.venv/bin/python"
[[ -x "${python}" ]] || python="python3"
"${python}" "${repo_root}/scripts/parse_benchmark_model.py" --manifest "${manifest}" --out "${out}" \
  --device "${device}" --serial "${serial}" --abi "${abi}"
