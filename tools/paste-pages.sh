#!/usr/bin/env bash
# Makes the pasted version of saved web pages: what a reader gets when they
# select a whole page in a browser and copy it (document.body.innerText).
#
#   tools/paste-pages.sh DIR
#
# DIR holds one folder per page, each with a `source.html` (Mozilla
# Readability's test-page layout). For each, headless Chromium renders the
# page and `pasted.txt` is written beside it. Needs Chromium
# (`apt-get install chromium`). Pages that already have a pasted.txt are
# kept unless PASTE_AGAIN=1.
set -euo pipefail
dir=${1:?usage: tools/paste-pages.sh DIR}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found; install it with: apt-get install chromium" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for page in "$dir"/*/; do
  src="$page/source.html"
  [ -f "$src" ] || continue
  [ -s "$page/pasted.txt" ] && [ "${PASTE_AGAIN:-0}" != 1 ] && { n=$((n + 1)); continue; }
  # The page is rendered as saved; when it is parsed, and again after its
  # load event, one script of ours takes body.innerText and writes it,
  # base64-encoded, into an attribute of the document.
  {
    cat "$src"
    cat <<'JS'
<script>
(function () {
  function take() {
    var t = document.body ? document.body.innerText : '';
    var b = btoa(unescape(encodeURIComponent(t)));
    document.documentElement.setAttribute('data-khulasa-paste', b);
  }
  document.addEventListener('DOMContentLoaded', take);
  window.addEventListener('load', take);
})();
</script>
JS
  } > "$work/page.html"
  out=$(timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$work/profile" --virtual-time-budget=5000 --timeout=20000 \
    --dump-dom "file://$work/page.html" 2>/dev/null || true)
  b64=$(printf '%s' "$out" | grep -o 'data-khulasa-paste="[^"]*"' | head -1 | sed 's/^data-khulasa-paste="//; s/"$//' || true)
  if [ -z "$b64" ]; then
    echo "could not render $src" >&2
    continue
  fi
  printf '%s' "$b64" | base64 -d > "$page/pasted.txt"
  n=$((n + 1))
done
echo "wrote $n pasted pages under $dir" >&2
