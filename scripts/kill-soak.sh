#!/usr/bin/env bash
# Kill soak for `khulasa batch`: 500 articles (the NTREX documents in
# English, Urdu and Pashto, and generated ones), the scripted generator
# paced like a real model, SIGKILL at 5 random points and SIGTERM at 2,
# resuming after each. Then checks: no digest lost, none duplicated, no
# temporary file left, and a report that adds up.
#   scripts/kill-soak.sh [KHULASA_BINARY] [PACE_MS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/release/khulasa}"
pace="${2:-40}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$root/tests/data/ntrex128" "$work/wire" <<'PY'
import pathlib, random, sys
src, wire = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wire.mkdir(parents=True)
ids = src.joinpath("DOCUMENT_IDS.tsv").read_text().split("\n")
n = 0
sentences = []
for f in ["newstest2019-src.eng.txt", "newstest2019-ref.urd.txt", "newstest2019-ref.pus.txt"]:
    docs = {}
    for doc, line in zip(ids, src.joinpath(f).read_text().split("\n")):
        docs.setdefault(doc.strip(), []).append(line)
        if f.endswith("eng.txt"):
            sentences.append(line)
    for doc, lines in docs.items():
        if not doc or n >= 369:
            continue
        wire.joinpath(f"{doc}-{f[-7:-4]}.txt").write_text(lines[0] + "\n\n" + "\n\n".join(lines[1:]) + "\n")
        n += 1
rng = random.Random(7)
while n < 500:
    body = "\n\n".join(rng.sample(sentences, rng.randint(4, 12)))
    wire.joinpath(f"generated-{n:03}.txt").write_text(f"Report {n}\n\n{body}\n")
    n += 1
print(f"{n} articles in {wire}")
PY
cat > "$work/script.json" <<JSON
{"replies": ["{\"headline\": \"Officials report the news\", \"summary\": \"Officials reported the news of the day.\", \"key_facts\": [\"Officials spoke.\", \"People listened.\", \"The report was read.\"]}"], "cycle": true, "delay_ms": $pace}
JSON
out="$work/out"
run() { exec "$bin" batch "$work/wire" --out "$out" --model "scripted:$work/script.json" --quiet --parallel 2 "$@"; }
digests() { find "$out/digests" -name '*.json' 2>/dev/null | wc -l; }
signals=(KILL TERM KILL KILL TERM KILL KILL)
for sig in "${signals[@]}"; do
  run & pid=$!
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 2.5), 2))')"
  before=$(digests)
  kill -"$sig" "$pid" 2>/dev/null || true
  set +e; wait "$pid"; rc=$?; set -e
  echo "SIG$sig after $before digests: exit $rc, $(digests) digests stored"
done
set +e; (run); rc=$?; set -e
echo "final run: exit $rc"
python3 - "$work/wire" "$out" <<'PY'
import json, pathlib, sys
wire, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
n = len(list(wire.iterdir()))
lines = [json.loads(l) for l in out.joinpath("digests.jsonl").read_text().splitlines()]
ids = [d["batch"]["id"] for d in lines]
report = json.loads(out.joinpath("report.json").read_text())
failed = {f["id"] for f in report["failed"]}
temps = [p.name for p in out.rglob(".*.tmp")]
problems = []
if len(ids) != len(set(ids)): problems.append(f"{len(ids) - len(set(ids))} duplicated digests")
if len(set(ids)) + len(failed) != n: problems.append(f"{n - len(set(ids)) - len(failed)} articles lost")
if report["total"] != n or report["succeeded"] != len(set(ids)) or report["pending"]:
    problems.append(f"report does not add up: total {report['total']}, succeeded {report['succeeded']}, pending {len(report['pending'])}")
if temps: problems.append(f"{len(temps)} temporary files left: {temps[:3]}")
print(f"{n} articles: {len(set(ids))} digests, {len(ids) - len(set(ids))} duplicated, {len(failed)} failed, "
      f"{n - len(set(ids)) - len(failed)} lost, {report['skipped_existing']} kept from earlier runs, {len(temps)} temporary files")
if problems:
    print("FAIL: " + "; ".join(problems)); sys.exit(1)
print("ok")
PY
