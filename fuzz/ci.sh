#!/usr/bin/env bash
# CI: build every fuzz target once, then run each for FUZZ_SECONDS (60)
# from the committed seeds; any crash, leak, timeout or OOM fails the run.
# Needs only stable Rust: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags
# cargo-fuzz passes (see README.md here).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=(datagram stream config template_sdp)
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "== building the fuzz targets"
start=$(date +%s)
cargo fuzz build -O
echo "built in $(( $(date +%s) - start )) s"

bin_dir="target/x86_64-unknown-linux-gnu/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds} s"
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  max_len=4096
  case "$target" in datagram | stream) max_len=65536 ;; esac
  # Run the built binary directly: `cargo fuzz run` would rebuild it.
  if "$bin_dir/$target" "$work/corpus/$target" "seeds/$target" \
      -dict=sip.dict -max_total_time="$seconds" -max_len="$max_len" \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$target/" \
      >"$work/$target.log" 2>&1; then
    grep -E '^#[0-9]+.*DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec' "$work/$target.log" || true
  else
    echo "!! $target failed:"
    tail -n 60 "$work/$target.log"
    for artifact in "$work/artifacts/$target"/*; do
      [ -e "$artifact" ] || continue
      echo "-- $(basename "$artifact") (base64):"
      base64 -w0 "$artifact"
      echo
      mkdir -p artifacts/"$target"
      cp "$artifact" artifacts/"$target"/
    done
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs kept in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without a crash"
