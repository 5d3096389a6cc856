#!/usr/bin/env python3
"""Builds labelled (article, claim, label) pairs for `khulasa eval --task facts`.

Each claim comes from one sentence of a real news article. Correct claims are
copies, compressions and light paraphrases of it; incorrect ones are made
with the corruptions that FactCC and FRANK describe: an entity swapped for
another name of the same article, two names swapped (subject and object),
another speaker for "X said", a negation added or removed, an antonym, another
place or date, cause and effect reversed, and "will" turned into the past.
Every corruption keeps the claim's words inside the article's vocabulary
where it can, so a check that only asks "are these words in the article?"
does not catch it.

    tools/make-claims.py                     # NTREX English -> tests/data/claims/ntrex-dev.jsonl
    tools/make-claims.py --cnndm OUT.jsonl   # the CNN/DailyMail sample, held out (not committed)

The output is deterministic (fixed seed). Lines are
{"id", "article", "claim", "label", "kind", "evidence"}; label is
"supported", "unsupported" or "contradicted".
"""

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"

AUX = r"\b(is|are|was|were|will|would|can|could|has|have|had|should|must|did|does|do|may|might)\b"
ANTONYMS = {
    "increase": "decrease", "increased": "decreased", "rise": "fall", "rose": "fell",
    "risen": "fallen", "rising": "falling", "higher": "lower", "more": "fewer",
    "win": "lose", "won": "lost", "wins": "loses", "winning": "losing",
    "accept": "reject", "accepted": "rejected", "approve": "reject", "approved": "rejected",
    "support": "oppose", "supported": "opposed", "supports": "opposes",
    "allow": "ban", "allowed": "banned", "open": "close", "opened": "closed",
    "first": "last", "largest": "smallest", "biggest": "smallest", "best": "worst",
    "strong": "weak", "stronger": "weaker", "early": "late", "earlier": "later",
    "before": "after", "after": "before", "up": "down", "gain": "loss", "gains": "losses",
    "guilty": "innocent", "agreed": "refused", "began": "ended", "start": "end",
    "started": "ended", "lead": "trail", "led": "trailed", "killed": "spared",
    "increase.": "decrease.", "success": "failure", "successful": "unsuccessful",
    "positive": "negative", "majority": "minority", "new": "old", "young": "old",
    "public": "private", "legal": "illegal", "happy": "unhappy", "safe": "dangerous",
    "include": "exclude", "included": "excluded", "arrived": "left", "joined": "left",
    "hired": "fired", "bought": "sold", "buy": "sell", "raised": "cut", "cheaper": "dearer",
}
PAST = {
    "be": "was", "have": "had", "do": "did", "go": "went", "make": "made", "take": "took",
    "give": "gave", "get": "got", "come": "came", "see": "saw", "say": "said", "tell": "told",
    "hold": "held", "meet": "met", "leave": "left", "pay": "paid", "find": "found",
    "keep": "kept", "bring": "brought", "begin": "began", "run": "ran", "win": "won",
    "lose": "lost", "send": "sent", "build": "built", "spend": "spent", "stand": "stood",
    "become": "became", "put": "put", "set": "set", "cut": "cut", "let": "let",
    "sell": "sold", "buy": "bought", "think": "thought", "know": "knew", "write": "wrote",
    "fall": "fell", "rise": "rose", "speak": "spoke", "choose": "chose", "grow": "grew",
}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
PLACES = ["London", "Paris", "Berlin", "Washington", "New York", "Moscow", "Beijing", "Tokyo",
          "Wales", "Scotland", "England", "Ireland", "France", "Germany", "Russia", "China",
          "India", "Pakistan", "Afghanistan", "Iran", "Iraq", "Syria", "Israel", "Egypt",
          "Turkey", "Japan", "Australia", "Canada", "Mexico", "Brazil", "Spain", "Italy",
          "California", "Texas", "Florida", "Chicago", "Boston", "Los Angeles", "Kabul",
          "Islamabad", "Lahore", "Karachi", "Ukraine", "Europe", "Africa", "Asia", "America"]
CAUSAL = [" because ", " after ", " due to ", " so that ", " as a result of "]
STOP_CAPS = set(WEEKDAYS + MONTHS + ["The", "A", "An", "In", "On", "At", "But", "And", "He",
                 "She", "It", "They", "We", "I", "This", "That", "Mr", "Mrs", "Ms", "Dr"])


def sentences(text):
    out = []
    for s in re.split(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’]))\s+(?=[\"'“‘A-Z0-9])", text):
        s = s.strip()
        if 8 <= len(s.split()) <= 45 and s[-1:] in ".!?\"”'’":
            out.append(s)
    return out


def names(sentence):
    """Capitalized runs that do not open the sentence: 'Theresa May', 'BBC'."""
    out = []
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z'’-]+(?:\s+[A-Z][a-zA-Z'’-]+)*)", sentence):
        if m.start() == 0:
            continue
        n = re.sub(r"['’]s?$", "", m.group(1))
        words = n.split()
        while words and words[0] in STOP_CAPS:
            words = words[1:]
        if words and not all(w in STOP_CAPS for w in words):
            out.append(" ".join(words))
    return out


def article_names(text):
    """Proper names of the article: capitalized runs whose words never occur
    in lower case in it."""
    lower = set(re.findall(r"\b[a-z][a-z'’-]*\b", text))
    seen = []
    for s in sentences(text):
        for n in names(s):
            if n not in seen and not any(w.lower() in lower for w in n.split()):
                seen.append(n)
    return seen


def replace_once(s, old, new):
    i = s.find(old)
    return s if i < 0 else s[:i] + new + s[i + len(old):]


def copy(s, art, rng):
    return s


def compression(s, art, rng):
    """Drops a relative clause or aside between commas, an opening adverbial
    or a trailing modifier: what is left is still true."""
    if '"' in s or "“" in s:
        return None
    parts = [p for p in re.split(r",\s+", s.rstrip(".")) if p]
    relative = re.compile(r"(which|who|whose|where)\b")
    appositive = re.compile(r"(a|an|the)\b")
    mids = [i for i in range(1, len(parts) - 1)
            if len(parts[i].split()) >= 3 and (relative.match(parts[i]) or (
                appositive.match(parts[i]) and parts[i - 1].split()[-1][:1].isupper()))]
    if mids:
        i = rng.choice(mids)
        out = ", ".join(parts[:i - 1] + [parts[i - 1] + " " + parts[i + 1]] + parts[i + 2:]) + "."
    elif len(parts) >= 2 and len(parts[0].split()) <= 5 and re.match(
            r"(after|in|on|at|for|last|this|however|meanwhile|earlier|since|during|but)\b", parts[0], re.I):
        out = ", ".join(parts[1:]) + "."
        out = out[0].upper() + out[1:]
    elif len(parts) >= 2 and re.match(r"(which|who|including|while|according to|\w+ing)\b", parts[-1]):
        out = ", ".join(parts[:-1]) + "."
    else:
        return None
    return out if len(out.split()) >= 6 else None


def paraphrase(s, art, rng):
    subs = [
        (r"\bsaid\b", "stated"), (r"\btold\b", "informed"), (r"\bpeople\b", "individuals"),
        (r"\bbig\b", "large"), (r"\balso\b", "in addition"), (r"\bshowed\b", "revealed"),
        (r"\babout\b", "around"), (r"\bwants\b", "wishes"), (r"\bbegan\b", "started"),
        (r"\bhelp\b", "assist"), (r"\bbuy\b", "purchase"), (r"\bstarted\b", "began"),
        (r"\bmany\b", "numerous"), (r"\bchildren\b", "kids"), (r"\bquickly\b", "rapidly"),
    ]
    m = re.match(r"^(.*\S),\s+(he|she|they|[A-Z][\w.’' -]{1,40}?) said\.$", s)
    if m and '"' not in s:
        body = m.group(1)
        return f"According to {m.group(2) if m.group(2)[0].isupper() and m.group(2) not in ('He','She','They') else m.group(2).capitalize()}, {body[0].lower() + body[1:]}."
    rng.shuffle(subs)
    for pat, rep in subs:
        if re.search(pat, s):
            return re.sub(pat, rep, s, count=1)
    return None


def entity_swap(s, art, rng):
    proper = article_names(art)
    own = [n for n in names(s) if n in proper]
    others = [n for n in proper if n not in s and len(n) > 2]
    if not own or not others:
        return None
    old = rng.choice(own)
    # A name of the same size: a person for a person, a single word for a single word.
    same = [n for n in others if len(n.split()) == len(old.split())] or others
    return replace_once(s, old, rng.choice(same))


def role_swap(s, art, rng):
    proper = article_names(art)
    own = [n for n in dict.fromkeys(names(s)) if n in proper]
    if len(own) < 2:
        return None
    a, b = own[0], own[1]
    if a in b or b in a:
        return None
    ia, ib = s.find(a), s.find(b)
    between = s[ia + len(a):ib] if ia < ib else s[ib + len(b):ia]
    if len(between.split()) < 2:
        return None
    tmp = "\0"
    out = s.replace(a, tmp, 1).replace(b, a, 1).replace(tmp, b, 1)
    return out if out != s else None


def speaker_swap(s, art, rng):
    m = re.search(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*) (said|says|told)\b", s) or \
        re.search(r"\b(?:said|says|according to) ([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)", s)
    if not m:
        return None
    who = m.group(1)
    if who in STOP_CAPS:
        return None
    if who not in article_names(art):
        return None
    others = [n for n in article_names(art)
              if n != who and n not in s and n not in PLACES and (" " in n) == (" " in who)]
    if not others:
        return None
    return replace_once(s, who, rng.choice(others))


def negation(s, art, rng):
    if re.search(r"\bnot\b", s):
        return re.sub(r"\s+not\b", "", s, count=1)
    if re.search(r"n't\b", s):
        return re.sub(r"(\w+)n't\b", lambda m: {"ca": "can", "wo": "will", "sha": "shall"}.get(m.group(1), m.group(1)), s, count=1)
    if re.search(r"\bnever\b", s):
        return re.sub(r"\bnever\b", "always", s, count=1)
    m = re.search(AUX, s)
    if not m:
        return None
    return s[: m.end()] + " not" + s[m.end():]


def antonym(s, art, rng):
    words = re.findall(r"\b\w+\b", s)
    cands = [w for w in words if w.lower() in ANTONYMS]
    if not cands:
        return None
    w = rng.choice(cands)
    rep = ANTONYMS[w.lower()]
    if w[0].isupper():
        rep = rep.capitalize()
    return re.sub(rf"\b{re.escape(w)}\b", rep, s, count=1)


def place_date(s, art, rng):
    for group in (WEEKDAYS, MONTHS):
        hit = [w for w in group if re.search(rf"\b{w}\b", s)]
        if hit:
            w = hit[0]
            return re.sub(rf"\b{w}\b", rng.choice([x for x in group if x != w]), s, count=1)
    years = re.findall(r"\b(19[5-9]\d|20[0-2]\d)\b", s)
    if years:
        y = years[0]
        art_years = [x for x in dict.fromkeys(re.findall(r"\b(?:19[5-9]\d|20[0-2]\d)\b", art)) if x != y]
        new = rng.choice(art_years) if art_years else str(int(y) + rng.choice([-2, -1, 1, 2]))
        return s.replace(y, new, 1)
    hit = [p for p in PLACES if re.search(rf"\b{p}\b", s)]
    if hit:
        p = hit[0]
        in_art = [x for x in PLACES if x != p and x in art]
        return re.sub(rf"\b{p}\b", rng.choice(in_art or [x for x in PLACES if x != p]), s, count=1)
    return None


def cause_effect(s, art, rng):
    body = s.rstrip(".")
    for c in CAUSAL:
        if c in body and '"' not in body:
            a, b = body.split(c, 1)
            if len(a.split()) < 3 or len(b.split()) < 3 or "," in a or "," in b:
                continue
            proper = {w for n in article_names(art) for w in n.split()}
            a = a if a.split()[0] in proper else a[0].lower() + a[1:]
            return b[0].upper() + b[1:] + c + a + "."
    m = re.search(r"^(.*?)\s+(led to|caused|resulted in)\s+(.*)$", body)
    if m and '"' not in body and len(m.group(1).split()) >= 2 and len(m.group(3).split()) >= 2:
        a, v, b = m.groups()
        return b[0].upper() + b[1:] + " " + v + " " + a[0].lower() + a[1:] + "."
    return None


def tense(s, art, rng):
    m = re.search(r"\bwill (not )?(be )?(\w+)\b", s)
    if m:
        verb = m.group(3)
        if m.group(2):
            past = "was" if not re.search(r"\b(they|we|you|are)\b", s[:m.start()], re.I) else "were"
            return s[: m.start()] + past + " " + (m.group(1) or "") + verb + s[m.end():]
        past = PAST.get(verb) or (verb + "d" if verb.endswith("e") else verb + "ed")
        neg = "did not " + verb if m.group(1) else past
        return s[: m.start()] + neg + s[m.end():]
    m = re.search(r"\b(is|are) (going|set|due|expected|planning) to (\w+)\b", s)
    if m:
        verb = m.group(3)
        past = PAST.get(verb) or (verb + "d" if verb.endswith("e") else verb + "ed")
        return s[: m.start()] + past + s[m.end():]
    return None


CORRECT = [("copy", copy), ("compression", compression), ("paraphrase", paraphrase)]
WRONG = [
    ("entity_swap", entity_swap, "unsupported"),
    ("role_swap", role_swap, "contradicted"),
    ("speaker_swap", speaker_swap, "unsupported"),
    ("negation", negation, "contradicted"),
    ("antonym", antonym, "contradicted"),
    ("place_date", place_date, "unsupported"),
    ("cause_effect", cause_effect, "contradicted"),
    ("tense", tense, "contradicted"),
]


def build(articles, quota, rng):
    """articles: [(id, text)]; quota: pairs per kind."""
    counts = {k: 0 for k, *_ in CORRECT + WRONG}
    out = []
    order = list(articles)
    rng.shuffle(order)
    kinds = [(k, f, "supported") for k, f in CORRECT] + WRONG
    for _ in range(6):  # passes over the articles until every kind has its quota
        for aid, art in order:
            sents = sentences(art)
            rng.shuffle(sents)
            used = set()
            for kind, fn, label in kinds:
                if counts[kind] >= quota[kind]:
                    continue
                for s in sents:
                    if s in used:
                        continue
                    claim = fn(s, art, rng)
                    if not claim or claim == s and kind != "copy" or claim.strip() == "":
                        continue
                    used.add(s)
                    counts[kind] += 1
                    out.append({"id": f"{aid}#{len(out)}", "article": art, "claim": claim,
                                "label": label, "kind": kind, "evidence": s})
                    break
        if all(counts[k] >= quota[k] for k in counts):
            break
    return out, counts


def ntrex_articles():
    d = EVAL / "ntrex128"
    ids = (d / "DOCUMENT_IDS.tsv").read_text().splitlines()
    lines = (d / "newstest2019-src.eng.txt").read_text().splitlines()
    docs = {}
    for i, l in zip(ids, lines):
        docs.setdefault(i, []).append(l)
    # The first line is the headline: the article is the rest.
    return [(k, " ".join(v[1:])) for k, v in docs.items() if len(v) > 4]


def cnndm_articles():
    csv.field_size_limit(10**9)
    rows = csv.DictReader(open(EVAL / "cnndm" / "articles.csv", encoding="utf-8"))
    out = []
    for r in rows:
        text = re.sub(r"^.*?\(CNN\)\s*--\s*|^By \..*?\. (?=[A-Z])", "", r["article"])
        out.append((r["id"][:12], text[:3000].rsplit(". ", 1)[0] + "."))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "claims" / "ntrex-dev.jsonl"))
    ap.add_argument("--cnndm", help="build the CNN/DailyMail held-out set here instead")
    ap.add_argument("--per-kind", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    arts = cnndm_articles() if a.cnndm else ntrex_articles()
    quota = {k: a.per_kind for k, *_ in CORRECT + WRONG}
    # As many correct claims as corrupted ones.
    for k, *_ in CORRECT:
        quota[k] = a.per_kind * len(WRONG) // len(CORRECT)
    pairs, counts = build(arts, quota, rng)
    out = Path(a.cnndm or a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    print(f"{out}: {len(pairs)} pairs " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
