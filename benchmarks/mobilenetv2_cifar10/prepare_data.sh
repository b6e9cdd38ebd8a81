#!/usr/bin/env bash
# Unpacks the shared CIFAR-10 JPEG images into an image folder a user would have:
#   ${POCKETFLOW_DATA:-~/pocketflow_data}/cifar10_jpg/train/<class>/NNNN.jpg  (files 0000-4499)
#   ${POCKETFLOW_DATA:-~/pocketflow_data}/cifar10_jpg/val/<class>/NNNN.jpg    (files 4500-4999)
# as ../shared/data/cifar10/README.md asks (45,000 train / 5,000 evaluation). Idempotent.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
archive="${CIFAR10_ARCHIVE:-${repo_root}/../shared/data/cifar10/cifar10-train-jpg.tar.gz}"
out="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10_jpg"
[[ -f "${archive}" ]] || { echo "error: expected the CIFAR-10 archive at ${archive}. Received: no such file" >&2; exit 2; }
mkdir -p "${out}"
[[ -d "${out}/train" ]] || tar xzf "${archive}" -C "${out}"
for class_dir in "${out}"/train/*/; do
  class="$(basename "${class_dir}")"
  mkdir -p "${out}/val/${class}"
  for index in $(seq 4500 4999); do
    [[ -f "${class_dir}${index}.jpg" ]] && mv "${class_dir}${index}.jpg" "${out}/val/${class}/"
  done
done
echo "train: $(find "${out}/train" -name '*.jpg' | wc -l) images; val: $(find "${out}/val" -name '*.jpg' | wc -l) images in ${out}"
