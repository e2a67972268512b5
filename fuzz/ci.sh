#!/usr/bin/env bash
# CI: build every fuzz target once, then run each for FUZZ_SECONDS (60)
# from the committed seeds; any crash, timeout, leak or OOM fails the run.
#
# Stable Rust only: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags of
# a libFuzzer build. The flags are those `cargo fuzz build` passes (release,
# debug assertions, ASan, sancov), with 16 codegen units instead of 1
# (FUZZ_CODEGEN_UNITS) for a faster build, so CI needs no cargo-fuzz
# install (see fuzz/README.md).
#
# FUZZ_TARGET_DIR (default ~/.cache/sip-autoresponder/fuzz-target) keeps the
# instrumented dependencies between runs on the same machine; on a new one
# the first build takes a few minutes more.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=(datagram stream stream_writer config template_sdp)
triple="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${FUZZ_TARGET_DIR:-${HOME:-/tmp}/.cache/sip-autoresponder/fuzz-target}"

echo "== building the fuzz targets ($triple, into $target_dir)"
start=$(date +%s)
# The order is cargo-fuzz's, so that with FUZZ_CODEGEN_UNITS=1 the build is
# the same as `RUSTC_BOOTSTRAP=1 cargo fuzz build` and can share its target dir.
RUSTC_BOOTSTRAP=1 \
RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 -Zsanitizer=address \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cdebug-assertions \
 -Ccodegen-units=${FUZZ_CODEGEN_UNITS:-16}" \
  cargo build --manifest-path Cargo.toml --release --bins \
    --target "$triple" --target-dir "$target_dir" \
    --config 'profile.release.debug="line-tables-only"'
echo "built in $(( $(date +%s) - start )) s"

bin_dir="$target_dir/$triple/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
failed=()
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds} s"
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  max_len=4096
  case "$target" in datagram | stream) max_len=65536 ;; esac
  if "$bin_dir/$target" "$work/corpus/$target" "seeds/$target" \
      -dict=sip.dict -max_total_time="$seconds" -max_len="$max_len" \
      -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$target/" \
      >"$work/$target.log" 2>&1; then
    grep -E '^#[0-9]+.*DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec' \
      "$work/$target.log" || true
  else
    echo "!! $target failed:"
    tail -n 80 "$work/$target.log"
    mkdir -p "artifacts/$target"
    for artifact in "$work/artifacts/$target"/*; do
      [ -e "$artifact" ] || continue
      echo "-- $(basename "$artifact") (base64):"
      base64 -w0 "$artifact"
      echo
      cp "$artifact" "artifacts/$target/"
    done
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs kept in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without a crash"
