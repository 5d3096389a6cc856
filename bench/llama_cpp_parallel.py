"""Batched decoding in llama.cpp (through llama-cpp-python's C API), measured
like `khulasa bench --parallel N`: N sequences get the same prompt (the
example article repeated and cut to P tokens), then G greedy decode steps
are timed twice: one sequence at a time (N x G one-token passes), and all
N together (G passes of N tokens, one per sequence). JSON out, one row per
N, with the speedup of together over one at a time."""

import argparse
import ctypes
import json
import time

import llama_cpp as C
import numpy as np


@C.llama_log_callback
def _QUIET(level, text, user_data):
    """llama.cpp's log lines are left out of the JSON."""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--article", default="examples/ntrex-shark-en.txt")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--parallel", default="2,4,8", help="comma-separated sequence counts")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    counts = [max(1, int(n)) for n in a.parallel.split(",")]

    C.llama_log_set(_QUIET, ctypes.c_void_p())
    C.llama_backend_init()
    mparams = C.llama_model_default_params()
    model = C.llama_model_load_from_file(a.gguf.encode(), mparams)
    if not model:
        raise SystemExit(f"cannot load {a.gguf}")
    vocab = C.llama_model_get_vocab(model)
    n_vocab = C.llama_vocab_n_tokens(vocab)

    text = open(a.article, encoding="utf-8").read().encode("utf-8")
    buf = (C.llama_token * (len(text) + 16))()
    n = C.llama_tokenize(vocab, text, len(text), buf, len(buf), False, False)
    one = list(buf[:n])
    ids = []
    while len(ids) < a.prompt_tokens:
        ids += one
    ids = ids[: a.prompt_tokens]

    rows = []
    for seqs in counts:
        cparams = C.llama_context_default_params()
        cparams.n_ctx = seqs * (a.prompt_tokens + a.gen_tokens + 16)
        cparams.n_batch = max(512, seqs)
        cparams.n_ubatch = max(512, seqs)
        cparams.n_seq_max = seqs
        cparams.kv_unified = False
        cparams.n_threads = a.threads
        cparams.n_threads_batch = a.threads
        ctx = C.llama_init_from_model(model, cparams)
        batch = C.llama_batch_init(max(len(ids), seqs), 0, 1)

        def run(tokens):
            """Decodes (token, position, sequence) triples as one batch and
            returns the greedy next token of each."""
            batch.n_tokens = len(tokens)
            for i, (t, pos, s) in enumerate(tokens):
                batch.token[i] = t
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = s
                batch.logits[i] = True
            if C.llama_decode(ctx, batch) != 0:
                raise SystemExit("llama_decode failed")
            out = []
            for i in range(len(tokens)):
                ptr = C.llama_get_logits_ith(ctx, i)
                row = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
                out.append(int(row.argmax()))
            return out

        starts = []
        for s in range(seqs):
            # Only the last prompt token needs logits.
            batch.n_tokens = len(ids)
            for i, t in enumerate(ids):
                batch.token[i] = t
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = s
                batch.logits[i] = i + 1 == len(ids)
            if C.llama_decode(ctx, batch) != 0:
                raise SystemExit("llama_decode failed on the prompt")
            row = np.ctypeslib.as_array(C.llama_get_logits_ith(ctx, len(ids) - 1), shape=(n_vocab,))
            starts.append((int(row.argmax()) + s) % n_vocab)
        mem = C.llama_get_memory(ctx)
        p0 = len(ids)

        t0 = time.perf_counter()
        for s, first in enumerate(starts):
            nxt = first
            for pos in range(p0, p0 + a.gen_tokens):
                nxt = run([(nxt, pos, s)])[0]
        alone = time.perf_counter() - t0
        # Back to the prompts: the positions after them are decoded again.
        for s in range(seqs):
            C.llama_memory_seq_rm(mem, s, p0, -1)
        t1 = time.perf_counter()
        nxt = list(starts)
        for pos in range(p0, p0 + a.gen_tokens):
            nxt = run([(t, pos, s) for s, t in enumerate(nxt)])
        together = time.perf_counter() - t1
        tokens = seqs * a.gen_tokens
        rows.append({
            "sequences": seqs,
            "one_at_a_time_tokens_per_sec": tokens / alone,
            "batched_tokens_per_sec": tokens / together,
            "speedup": alone / together,
        })
        C.llama_batch_free(batch)
        C.llama_free(ctx)
    C.llama_model_free(model)
    print(json.dumps({
        "engine": "llama.cpp",
        "gguf": a.gguf,
        "threads": a.threads,
        "prompt_tokens": a.prompt_tokens,
        "gen_tokens": a.gen_tokens,
        "parallel": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
