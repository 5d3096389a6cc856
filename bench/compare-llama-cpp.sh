#!/usr/bin/env bash
# Measures khulasa (candle) and llama.cpp on the same GGUF file, prompt and
# threads, in one run, and prints the ratios.
#
#   bench/compare-llama-cpp.sh [MODEL_ID] [THREADS] [--isa avx2|avx512|native] [--parallel 2,4,8]
#   bench/compare-llama-cpp.sh --prepare [--isa LEVEL]   (only build llama.cpp)
#
# --parallel also compares batched decoding: each round runs `khulasa bench
# --parallel LIST` and bench/llama_cpp_parallel.py (N sequences of a
# 512-token prompt, 48 greedy steps one at a time and as one batch), and the
# batched tokens/s of the two engines are compared at each N.
#
# --isa sets the instruction-set level of both engines: llama.cpp is built
# for that level only, and khulasa runs with the matching KHULASA_KERNELS
# (avx2, avx512, or auto for native). The default, native, is every SIMD
# extension this CPU reports (AVX2, FMA, F16C, AVX-512, VNNI, ...) except
# AMX: with -march=native llama.cpp 0.3.36's AMX backend segfaults in
# llama_decode on an AMX machine (llama.cpp issue #20824 reports the same
# crash).
#
# llama.cpp comes from the pinned registry package llama-cpp-python, built
# from source into a virtual environment per level in khulasa's cache folder
# (outside the repository). The first run of a level compiles it (about
# 25 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ISA=native
PARALLEL=
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --isa) ISA="${2:?--isa needs avx2, avx512 or native}"; shift 2 ;;
    --isa=*) ISA="${1#--isa=}"; shift ;;
    --parallel) PARALLEL="${2:?--parallel needs a list such as 2,4,8}"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
MODEL="${1:-qwen2.5-coder-0.5b-instruct}"
THREADS="${2:-$(nproc)}"
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"
CACHE="${KHULASA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/khulasa}"
VENV="$CACHE/bench-venv-$ISA"

case "$ISA" in
  avx2) levels="avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2"; KERNELS=avx2 ;;
  avx512) levels="avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 avx512_vnni:AVX512_VNNI"; KERNELS=avx512 ;;
  native) levels="avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512f:AVX512 \
avx512_vnni:AVX512_VNNI avx512vbmi:AVX512_VBMI avx512_bf16:AVX512_BF16"; KERNELS=auto ;;
  *) echo "compare-llama-cpp.sh: unknown --isa $ISA; use avx2, avx512 or native" >&2; exit 2 ;;
esac
cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
cmake_args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
for pair in $levels; do
  if grep -qw "${pair%%:*}" <<<"$cpu_flags"; then
    cmake_args="$cmake_args -DGGML_${pair##*:}=ON"
  elif [ "$ISA" != native ] && [ "${pair%%:*}" != bmi2 ]; then
    echo "compare-llama-cpp.sh: this CPU has no ${pair%%:*}, which --isa $ISA needs" >&2
    exit 2
  fi
done

# pip's wheel cache does not know the CMake flags, so the build skips it, and
# a venv whose llama.cpp reports AMX (an older build) is rebuilt.
if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(b'AMX_INT8 = 1' in llama_cpp.llama_print_system_info())" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  CMAKE_ARGS="$cmake_args" "$VENV/bin/pip" install --quiet --no-cache-dir --no-binary llama-cpp-python "$LLAMA_CPP_PYTHON"
fi
export KHULASA_KERNELS="$KERNELS"

if [ "$MODEL" = "--prepare" ]; then
  "$VENV/bin/python" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"
  exit 0
fi

cargo build --release --quiet
GGUF="$(./target/release/khulasa models path "$MODEL")"
OUT="$(mktemp -d)"
# The machine may be shared and its speed may drift within minutes, so the
# two engines take turns: ROUNDS rounds of one run each, and the ratio is the
# median of the rounds' ratios. One more khulasa run times a whole digest;
# peak RSS is the largest of all khulasa runs.
ROUNDS="${ROUNDS:-3}"
for i in $(seq "$ROUNDS"); do
  ./target/release/khulasa bench --model "$MODEL" --threads "$THREADS" --runs 1 --no-digest --offline > "$OUT/candle-$i.json"
  "$VENV/bin/python" bench/llama_cpp_bench.py --gguf "$GGUF" --threads "$THREADS" --runs 1 > "$OUT/llama-$i.json"
  if [ -n "$PARALLEL" ]; then
    ./target/release/khulasa bench --model "$MODEL" --threads "$THREADS" --runs 1 --no-digest --offline \
      --prompt-tokens 512 --gen-tokens 48 --parallel "$PARALLEL" > "$OUT/candle-par-$i.json"
    "$VENV/bin/python" bench/llama_cpp_parallel.py --gguf "$GGUF" --threads "$THREADS" \
      --prompt-tokens 512 --gen-tokens 48 --parallel "$PARALLEL" > "$OUT/llama-par-$i.json"
  fi
done
./target/release/khulasa bench --model "$MODEL" --threads "$THREADS" --runs 1 --offline > "$OUT/candle-digest.json"

python3 - "$OUT" "$ROUNDS" "$MODEL" "$THREADS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name: json.load(open(f"{out}/{name}.json"))
c = [load(f"candle-{i}") for i in range(1, rounds + 1)]
l = [load(f"llama-{i}") for i in range(1, rounds + 1)]
d = load("candle-digest")
print(f"model {sys.argv[3]}, {sys.argv[4]} threads, khulasa kernels {d.get('kernels', '?')}, {d['prompt_tokens']} prompt + {d['gen_tokens']} generated tokens, {rounds} alternating rounds")
print(f"{'':12} {'khulasa':>10} {'llama.cpp':>10} {'ratio':>7}   per round")
for k, name in [("prompt_tokens_per_sec", "prompt tok/s"), ("gen_tokens_per_sec", "gen tok/s")]:
    ratios = [a[k] / b[k] for a, b in zip(c, l)]
    rounds_text = " ".join(f"{a[k]:.1f}/{b[k]:.1f}" for a, b in zip(c, l))
    print(f"{name:12} {statistics.median(a[k] for a in c):10.1f} {statistics.median(b[k] for b in l):10.1f} "
          f"{statistics.median(ratios):7.2f}x   {rounds_text}")
rss = max(r["peak_rss_bytes"] for r in c + [d])
print(f"khulasa peak RSS {rss / 1e9:.2f} GB = {rss / d['file_bytes']:.2f}x the file; one digest {d['digest_secs']:.1f} s")
try:
    cp = [load(f"candle-par-{i}")["parallel"] for i in range(1, rounds + 1)]
    lp = [load(f"llama-par-{i}")["parallel"] for i in range(1, rounds + 1)]
except FileNotFoundError:
    sys.exit(0)
print("batched decoding, 512-token prompts, 48 steps: batched tok/s khulasa/llama.cpp per round; "
      "each engine's own batched / one-at-a-time gain")
for k, row in enumerate(cp[0]):
    n = row["sequences"]
    pairs = [(a[k]["batched_tokens_per_sec"], b[k]["batched_tokens_per_sec"]) for a, b in zip(cp, lp)]
    ratio = statistics.median(x / y for x, y in pairs)
    gains = (statistics.median(a[k]["speedup"] for a in cp), statistics.median(b[k]["speedup"] for b in lp))
    print(f"N={n:<3} ratio {ratio:5.2f}x   " + " ".join(f"{x:.1f}/{y:.1f}" for x, y in pairs)
          + f"   gain khulasa {gains[0]:.2f}x, llama.cpp {gains[1]:.2f}x")
PY
