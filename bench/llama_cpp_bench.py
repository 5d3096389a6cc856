"""Prompt and generation speed of llama.cpp (through llama-cpp-python) on a
GGUF file, measured like `khulasa bench`: the example article repeated and
cut to N tokens, then M greedy tokens; median of several runs; JSON out."""

import argparse
import json
import statistics
import time

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--article", default="examples/ntrex-shark-en.txt")
    ap.add_argument("--prompt-tokens", type=int, default=1000)
    ap.add_argument("--gen-tokens", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed runs first (the same prompt, 8 generated tokens), as khulasa bench does")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    t0 = time.perf_counter()
    llm = Llama(
        model_path=a.gguf,
        n_ctx=a.prompt_tokens + a.gen_tokens + 16,
        n_batch=512,
        n_threads=a.threads,
        n_threads_batch=a.threads,
        verbose=False,
    )
    load = time.perf_counter() - t0
    text = open(a.article, encoding="utf-8").read()
    ids = []
    while len(ids) < a.prompt_tokens:
        ids += llm.tokenize(text.encode("utf-8"), add_bos=False)
    ids = ids[: a.prompt_tokens]

    for _ in range(a.warmup):
        llm.reset()
        llm.eval(ids)
        for _ in range(min(8, a.gen_tokens)):
            llm.eval([llm.sample(temp=0.0)])

    pp, tg = [], []
    for _ in range(max(1, a.runs)):
        llm.reset()
        t = time.perf_counter()
        llm.eval(ids)
        pp.append(a.prompt_tokens / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(a.gen_tokens):
            tok = llm.sample(temp=0.0)
            llm.eval([tok])
        tg.append(a.gen_tokens / (time.perf_counter() - t))
    print(
        json.dumps(
            {
                "engine": "llama.cpp (llama-cpp-python)",
                "threads": a.threads,
                "load_secs": load,
                "prompt_tokens": a.prompt_tokens,
                "gen_tokens": a.gen_tokens,
                "runs": a.runs,
                "warmup_runs": a.warmup,
                "prompt_tokens_per_sec": statistics.median(pp),
                "gen_tokens_per_sec": statistics.median(tg),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
