#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the repository's test data (and the
# shared evaluation pages when present). Existing corpus files are kept.
#   fuzz/seed.sh [REPO_ROOT]
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
c="$root/fuzz/corpus"
mkdir -p "$c"/{read,page,segment,chunk,constraint,ground,gguf,spm,digest_json,jsonl}
texts=("$root"/examples/*.txt "$root"/tests/fixtures/pages/*)
i=0
for f in "${texts[@]}"; do
  i=$((i + 1))
  for t in read segment ground; do cp "$f" "$c/$t/text-$i"; done
  cp "$f" "$c/page/text-$i"
  { printf '\x60\x10'; cat "$f"; } > "$c/chunk/text-$i"
done
pages="$root/../shared/eval/pages/readability"
if [ -d "$pages" ]; then
  for d in "$pages"/*/; do
    n="$(basename "$d")"
    s="$d/source.html"
    [ -f "$s" ] && [ "$(stat -c %s "$s")" -le 262144 ] || continue
    cp "$s" "$c/page/$n"
    { printf '\x02'; cat "$s"; } > "$c/read/$n"
  done
fi
python3 - "$root" "$c" <<'PY'
import json, struct, sys, pathlib
root, c = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
digest = {"headline": "Floods cut the road to Swat for 3 days",
          "summary": "Floods cut the road to Swat. 1,200 people were moved.",
          "key_facts": ["The road was closed for 3 days.", "1,200 people were moved.", "Officials spoke."]}
text = json.dumps(digest).encode()
toks = b"".join(bytes([len(text[i:i + 7])]) + text[i:i + 7] for i in range(0, len(text), 7))
(c / "constraint" / "digest").write_bytes(toks)
full = dict(digest, schema_version=1)
(c / "digest_json" / "plain").write_text(json.dumps(digest))
(c / "digest_json" / "versioned").write_text(json.dumps(full))
lines = []
for n, f in enumerate(sorted((root / "examples").glob("*.txt"))):
    lines.append(json.dumps({"id": f"doc-{n}", "title": f.stem, "body": f.read_text()[:4000], "url": "https://example.com/a"}))
lines += ["not json", json.dumps({"id": 7, "text": "A short one."}), json.dumps({"body": 3})]
(c / "jsonl" / "wire").write_text("\n".join(lines) + "\n")
for spm in (root / "tests/fixtures/translate/marian").glob("*.spm"):
    (c / "spm" / spm.name).write_bytes(spm.read_bytes())

def s(x): return struct.pack("<Q", len(x)) + x
def gguf(meta, tensors, align=32):
    b = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for k, kind, v in meta: b += s(k.encode()) + struct.pack("<I", kind) + v
    data = b""
    for name, dims, kind, payload in tensors:
        b += s(name.encode()) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        b += struct.pack("<IQ", kind, len(data))
        data += payload + b"\0" * (-len(payload) % align)
    b += b"\0" * (-len(b) % align)
    return b + data
meta = [("general.architecture", 8, s(b"qwen2")), ("general.alignment", 4, struct.pack("<I", 32)),
        ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + s(b"a") + s(b"b") + s(b"<s>")),
        ("qwen2.context_length", 4, struct.pack("<I", 64))]
f32 = struct.pack("<8f", *range(8))
q8 = (struct.pack("<e", 0.5) + bytes(range(32))) * 2
(c / "gguf" / "f32").write_bytes(gguf(meta, [("w", [8], 0, f32)]))
(c / "gguf" / "q8").write_bytes(gguf(meta[:1], [("w", [32, 2], 8, q8), ("b", [4, 2], 0, f32)]))
PY
echo "seeded $(find "$c" -type f | wc -l) files under $c"
