#!/usr/bin/env python3
"""Fits the pasted-page reader's line weights (src/article/paste.rs, WEIGHTS).

    khulasa eval --task read --data DIR --dump-lines lines.jsonl
    tools/fit-paste-reader.py lines.jsonl DIR

DIR is a folder of saved pages in Mozilla Readability's layout, each with
`expected.html` and the `pasted.txt` made by tools/paste-pages.sh. Each
pasted line is labelled story (1) or furniture (0) by aligning its words
with the expected article text: a line is story when at least half of its
words fall in the alignment. The weights are an L2-regularized logistic
regression over the features khulasa computes (fitted by Newton's method;
every line weighted by its length, since the reader is scored on words).
The headline candidates khulasa dumps are fitted as a choice among each
page's candidates (a conditional logit: the candidate that is the page's
title should get the highest score), and scored by how often the
best-scoring candidate of a page is its title.

The line model is read twice: the first reading's weights (FIRST_WEIGHTS)
leave out the last feature, story_words, which khulasa computes from the
story the first reading finds; the second reading's (WEIGHTS) use every
feature. After FIRST_WEIGHTS change, dump the lines again and refit so
that story_words is computed with the new weights.

Two-fold cross-validation over pages is reported first, then the weights
fitted on all pages are printed as Rust constants.

Only the Python standard library is used.
"""
import difflib
import html.parser
import json
import math
import re
import sys
import zlib

TOKEN = re.compile(r"\w+", re.UNICODE)
L2 = 1.0


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")
        self.parts.append(" ")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")
        self.parts.append(" ")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def tokens(text):
    return TOKEN.findall(text.lower())


def labels(lines, expected):
    """1 for each line whose words are mostly in the alignment with `expected`."""
    toks, owner = [], []
    for i, line in enumerate(lines):
        for t in tokens(line):
            toks.append(t)
            owner.append(i)
    matched = [0] * len(lines)
    sm = difflib.SequenceMatcher(None, toks, expected, autojunk=False)
    for a, _, size in sm.get_matching_blocks():
        # Runs of one or two words match anywhere by chance.
        if size < 3:
            continue
        for k in range(a, a + size):
            matched[owner[k]] += 1
    return [int(matched[i] * 2 >= max(1, len(tokens(l)))) for i, l in enumerate(lines)]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def solve(a, b):
    """Solves a x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c] != 0:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def newton(d, add_terms, free_first=False):
    """Minimizes a convex loss plus an L2 penalty by Newton's method, from
    zero weights. `add_terms(w, grad, hess)` adds the loss's gradient and
    Hessian at `w`; with `free_first`, the first weight (a bias) is not
    penalized."""
    w = [0.0] * d
    for _ in range(50):
        grad = [L2 * x for x in w]
        hess = [[L2 if i == j else 0.0 for j in range(d)] for i in range(d)]
        if free_first:
            grad[0] -= L2 * w[0]
            hess[0][0] -= L2
        add_terms(w, grad, hess)
        step = solve(hess, grad)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(v) for v in step) < 1e-6:
            break
    return w


def fit(rows):
    d = len(rows[0][0])

    def add_terms(w, grad, hess):
        for x, y, weight in rows:
            p = sigmoid(sum(a * b for a, b in zip(x, w)))
            g = weight * (p - y)
            h = weight * p * (1 - p)
            for i in range(d):
                if x[i] == 0.0:
                    continue
                grad[i] += g * x[i]
                hi = h * x[i]
                row = hess[i]
                for j in range(d):
                    row[j] += hi * x[j]

    return newton(d, add_terms, free_first=True)


def accuracy(rows, w):
    right = sum(weight for x, y, weight in rows if (sigmoid(sum(a * b for a, b in zip(x, w))) >= 0.5) == (y == 1))
    return right / sum(weight for _, _, weight in rows)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    dump, pages_dir = sys.argv[1], sys.argv[2]
    pages, titles = {}, {}
    with open(dump, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "title_candidate" in r:
                titles.setdefault(r["page"], []).append(r)
            else:
                pages.setdefault(r["page"], []).append(r)
    rows_by_page = {}
    for name, rs in pages.items():
        p = _Text()
        with open(f"{pages_dir}/{name}/expected.html", encoding="utf-8") as f:
            p.feed(f.read())
        expected = tokens("".join(p.parts))
        texts = [r["text"] for r in rs]
        ys = labels(texts, expected)
        rows_by_page[name] = [
            (r["features"], y, 1.0 + len(tokens(t)) / 10.0) for r, t, y in zip(rs, texts, ys)
        ]
    names = sorted(rows_by_page)
    fold = {n: zlib.crc32(n.encode()) % 2 for n in names}
    # The first reading sees every feature but the last (story_words, which
    # khulasa computes from the first reading's story); the second sees all.
    for name, const, width in (("first reading", "FIRST_WEIGHTS: [f64; FIRST_FEATURES]", -1),
                               ("second reading", "WEIGHTS: [f64; FEATURES]", None)):
        by_page = {n: [(x[:width], y, wt) for x, y, wt in rows_by_page[n]] for n in names}
        for k in (0, 1):
            train = [r for n in names if fold[n] != k for r in by_page[n]]
            test = [r for n in names if fold[n] == k for r in by_page[n]]
            w = fit(train)
            print(f"{name}, fold {k}: trained on {len(train)} lines, "
                  f"held-out word-weighted line accuracy {accuracy(test, w):.3f}", file=sys.stderr)
        rows = [r for n in names for r in by_page[n]]
        w = fit(rows)
        print(f"{name}, all {len(names)} pages, {len(rows)} lines: accuracy {accuracy(rows, w):.3f}",
              file=sys.stderr)
        print(f"pub const {const} = [")
        print("    " + ", ".join(f"{x:.3f}" for x in w) + ",")
        print("];")
    tw = fit_titles(titles, fold)
    print("pub const TITLE_WEIGHTS: [f64; TITLE_FEATURES] = [")
    print("    " + ", ".join(f"{x:.3f}" for x in tw) + ",")
    print("];")


def fit_choice(groups):
    """Conditional logit: weights under which each page's right candidates
    get the most probability among that page's candidates (L2-regularized,
    Newton's method). `groups` is a list of (features, rights) per page."""
    d = len(groups[0][0][0])

    def add_terms(w, grad, hess):
        for xs, rights in groups:
            total = sum(rights)
            y = [r / total for r in rights]
            s = [sum(a * b for a, b in zip(x, w)) for x in xs]
            top = max(s)
            e = [math.exp(v - top) for v in s]
            z = sum(e)
            p = [v / z for v in e]
            mu = [sum(p[c] * xs[c][i] for c in range(len(xs))) for i in range(d)]
            for c, x in enumerate(xs):
                for i in range(d):
                    grad[i] += (p[c] - y[c]) * x[i]
                    if p[c] == 0.0 or x[i] == 0.0:
                        continue
                    row = hess[i]
                    for j in range(d):
                        row[j] += p[c] * x[i] * x[j]
            for i in range(d):
                for j in range(d):
                    hess[i][j] -= mu[i] * mu[j]

    return newton(d, add_terms)


def title_groups(titles, names):
    """Each page's candidates, for pages where one of them is the title."""
    groups = []
    for n in names:
        cs = titles.get(n, [])
        if any(c["right"] for c in cs):
            groups.append(([c["features"] for c in cs], [float(c["right"]) for c in cs]))
    return groups


def titles_right(titles, names, w):
    """Share of pages with candidates whose best-scoring candidate is right."""
    scored = [n for n in names if titles.get(n)]
    right = 0
    for n in scored:
        best = max(titles[n], key=lambda c: sum(a * b for a, b in zip(c["features"], w)))
        right += bool(best["right"])
    return right / max(1, len(scored)), len(scored)


def fit_titles(titles, fold):
    names = sorted(titles)
    for k in (0, 1):
        train = [n for n in names if fold.get(n, 0) != k]
        test = [n for n in names if fold.get(n, 0) == k]
        w = fit_choice(title_groups(titles, train))
        share, count = titles_right(titles, test, w)
        print(f"titles fold {k}: held-out best candidate right on {share:.3f} of {count} pages", file=sys.stderr)
    w = fit_choice(title_groups(titles, names))
    share, count = titles_right(titles, names, w)
    print(f"titles, all: best candidate right on {share:.3f} of {count} pages", file=sys.stderr)
    return w


if __name__ == "__main__":
    main()
