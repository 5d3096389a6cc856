#!/usr/bin/env bash
# Measures khulasa (candle) and llama.cpp on the same GGUF file, prompt and
# threads, in one run, and prints the ratios.
#
#   bench/compare-llama-cpp.sh [MODEL_ID] [THREADS]
#
# llama.cpp comes from the pinned registry package llama-cpp-python, built
# from source for this CPU (-march=native) into a virtual environment in
# khulasa's cache folder (outside the repository); the first run compiles it
# (several minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-qwen2.5-coder-0.5b-instruct}"
THREADS="${2:-$(nproc)}"
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"
CACHE="${KHULASA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/khulasa}"
VENV="$CACHE/bench-venv"

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv "$VENV"
  CMAKE_ARGS="-DGGML_NATIVE=ON" "$VENV/bin/pip" install --quiet --no-binary llama-cpp-python "$LLAMA_CPP_PYTHON"
fi

cargo build --release --quiet
GGUF="$(./target/release/khulasa models path "$MODEL")"
OUT="$(mktemp -d)"
./target/release/khulasa bench --model "$MODEL" --threads "$THREADS" --offline > "$OUT/candle.json"
"$VENV/bin/python" bench/llama_cpp_bench.py --gguf "$GGUF" --threads "$THREADS" > "$OUT/llama.json"

python3 - "$OUT/candle.json" "$OUT/llama.json" "$MODEL" "$THREADS" <<'PY'
import json, sys
c, l = (json.load(open(p)) for p in sys.argv[1:3])
print(f"model {sys.argv[3]}, {sys.argv[4]} threads, {c['prompt_tokens']} prompt + {c['gen_tokens']} generated tokens, median of {c['runs']}")
print(f"{'':12} {'khulasa':>10} {'llama.cpp':>10} {'ratio':>7}")
for k, name in [("prompt_tokens_per_sec", "prompt tok/s"), ("gen_tokens_per_sec", "gen tok/s")]:
    print(f"{name:12} {c[k]:10.1f} {l[k]:10.1f} {c[k] / l[k]:7.2f}x")
print(f"khulasa peak RSS {c['peak_rss_bytes'] / 1e9:.2f} GB = {c['rss_over_file']:.2f}x the file; one digest {c['digest_secs']:.1f} s")
PY
