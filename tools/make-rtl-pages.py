#!/usr/bin/env python3
"""Wraps NTREX-128 news documents in realistic news-page chrome, as test pages
in Mozilla Readability's layout, so that the reader can be scored on Urdu and
Pashto pages (and English ones as a control) with `khulasa eval --task read`.

    tools/make-rtl-pages.py OUT [--langs ur,ps,en] [--ntrex DIR]

Writes OUT/dev/<lang>-<doc>/ and OUT/held/<lang>-<doc>/, each with
`source.html` (the page), `expected.html` (the article's paragraphs) and
`expected-metadata.json` (its title, language and direction). Run
`tools/paste-pages.sh OUT/dev` (and OUT/held) for the pasted versions.

Every phrase pool of the chrome (menus, share prompts, bylines, captions,
"related" and "most read" headings, sign-ups, cookie banners, comments,
footers, author bios) is split in two: the documents of `dev` take their
chrome from the first half of each pool and those of `held` from the
second, so that rules written while looking at `dev` are measured on
wording they were not written from. Teaser headlines are the titles of
other NTREX documents in the same language. Standard library only; the
output is the same for the same input (seeded).
"""

import argparse
import html
import json
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
FILES = {
    "en": "newstest2019-src.eng.txt",
    "ur": "newstest2019-ref.urd.txt",
    "ps": "newstest2019-ref.pus.txt",
}

# Each pool: a list of alternatives; dev pages draw from the even entries,
# held pages from the odd ones.
CHROME = {
    "ur": {
        "sites": ["روزنامہ آواز", "خبر نامہ", "اردو نیوز آن لائن", "پاک ٹائمز اردو"],
        "nav": [
            ["صفحہ اول", "پاکستان", "دنیا", "کھیل", "کاروبار", "تفریح", "صحت", "ویڈیو"],
            ["ہوم", "تازہ ترین", "قومی", "بین الاقوامی", "شوبز", "سائنس", "بلاگ", "کالم"],
            ["سرورق", "پاکستان", "عالمی خبریں", "کرکٹ", "معیشت", "ٹیکنالوجی", "تصاویر"],
            ["مرکزی صفحہ", "ملک", "دنیا بھر سے", "کھیلوں کی دنیا", "تجارت", "فن و ثقافت", "آڈیو"],
        ],
        "share": [
            ["شیئر کریں", "فیس بک", "ٹوئٹر", "واٹس ایپ"],
            ["اس خبر کو شیئر کریں", "فیس بک", "ایکس", "ای میل"],
            ["شیئر", "واٹس ایپ", "ٹوئٹر", "لنک کاپی کریں"],
            ["دوستوں سے شیئر کریں", "فیس بک", "ٹیلی گرام", "پرنٹ"],
        ],
        "byline": ["{name}، نامہ نگار", "تحریر: {name}", "{name} — {site}، اسلام آباد", "رپورٹ: {name}"],
        "names": ["عمران خالد", "فاطمہ رضا", "احمد نواز", "سارہ ملک", "بلال حسین", "عائشہ صدیقی"],
        "date": ["شائع {d} {m} {y} {hh}:{mm}", "{d} {m} {y} — اپ ڈیٹ {hh}:{mm}",
                 "اشاعت: {d} {m} {y}", "آخری اپ ڈیٹ {d} {m} {y}"],
        "months": ["جنوری", "فروری", "مارچ", "اپریل", "مئی", "جون", "جولائی", "اگست", "ستمبر", "اکتوبر", "نومبر", "دسمبر"],
        "caption": ["{scene} (تصویر: اے ایف پی)", "{scene} — فوٹو: رائٹرز", "{scene}۔ تصویر: فائل",
                    "{scene} | فوٹو بشکریہ اے پی"],
        "scenes": ["جائے وقوعہ پر موجود لوگ", "اجلاس کا ایک منظر", "شہر کی ایک مصروف سڑک", "پریس کانفرنس کے دوران"],
        "read_more": ["مزید پڑھیں: {t}", "یہ بھی پڑھیں: {t}", "مزید پڑھیے: {t}", "اسے بھی پڑھیں: {t}"],
        "related": ["متعلقہ خبریں", "اس سے متعلق", "متعلقہ تحریریں", "آپ کے لیے مزید"],
        "most_read": ["سب سے زیادہ پڑھی جانے والی", "مقبول ترین", "سب سے زیادہ دیکھی گئی", "نمایاں خبریں"],
        "tags": ["ٹیگز: {a}، {b}", "موضوعات: {a}، {b}", "متعلقہ موضوعات: {a}", "ٹیگ: {a}، {b}"],
        "newsletter": [
            "ہمارا نیوز لیٹر حاصل کرنے کے لیے اپنا ای میل درج کریں",
            "تازہ ترین خبریں اپنے ان باکس میں حاصل کریں۔ سبسکرائب کریں",
            "روزانہ خبرنامے کے لیے سائن اپ کریں",
            "ہمارے واٹس ایپ چینل کو فالو کریں",
        ],
        "cookie": [
            "یہ ویب سائٹ آپ کے تجربے کو بہتر بنانے کے لیے کوکیز استعمال کرتی ہے۔ ویب سائٹ استعمال کر کے آپ ہماری کوکی پالیسی سے اتفاق کرتے ہیں۔",
            "ہم کوکیز استعمال کرتے ہیں۔ قبول کریں",
            "اس سائٹ پر کوکیز کا استعمال ہوتا ہے۔ مزید جانیں",
            "ہماری رازداری کی پالیسی اور کوکیز کے بارے میں پڑھیں۔ ٹھیک ہے",
        ],
        "comments": ["تبصرے ({n})", "اپنی رائے دیں", "قارئین کے تبصرے", "تبصرہ کریں"],
        "comment_texts": [
            "بہت اچھی خبر ہے، حکومت کو اس پر فوری توجہ دینی چاہیے۔",
            "یہ سب پرانی باتیں ہیں، کوئی نئی بات بتائیں۔",
            "اللہ ہمارے ملک پر رحم کرے، بہت افسوسناک صورتحال ہے۔",
            "رپورٹر نے بہت تفصیل سے لکھا ہے، شکریہ۔",
        ],
        "bio": [
            "{name} ایک صحافی ہیں جو پندرہ سال سے سیاست اور معیشت کی رپورٹنگ کر رہے ہیں۔ وہ قائداعظم یونیورسٹی کے فارغ التحصیل ہیں۔",
            "{name} {site} سے وابستہ سینئر نامہ نگار ہیں اور پارلیمان کی کوریج کرتے ہیں۔",
            "مصنف ایک کالم نگار اور تجزیہ کار ہیں۔ ان سے ٹوئٹر پر رابطہ کیا جا سکتا ہے۔",
            "{name} دس برس سے صحافت کے شعبے سے منسلک ہیں اور خارجہ امور پر لکھتی ہیں۔",
        ],
        "footer": [
            ["ہمارے بارے میں", "رابطہ", "رازداری کی پالیسی", "اشتہارات"],
            ["جملہ حقوق محفوظ ہیں © {y} {site}"],
            ["شرائط و ضوابط", "ہم سے رابطہ کریں", "ملازمتیں"],
            ["© {y} {site}۔ تمام حقوق محفوظ ہیں"],
        ],
        "topics": ["سیاست", "پاکستان", "عالمی خبریں", "معیشت", "کھیل", "عدالت"],
    },
    "ps": {
        "sites": ["د خبرونو ورځپاڼه", "پښتو خبرونه", "ازادي ورځپاڼه", "نن ټکي"],
        "nav": [
            ["کور", "افغانستان", "نړۍ", "سیاست", "اقتصاد", "ورزش", "ویډیو"],
            ["لومړی مخ", "تازه خبرونه", "سیمه", "نړیوال", "روغتیا", "ټکنالوژي", "راډیو"],
            ["اصلي پاڼه", "کورني خبرونه", "بهرني خبرونه", "لوبې", "سوداګري", "کلتور", "انځورونه"],
            ["کور پاڼه", "هېواد", "نړۍ", "کرکټ", "اقتصاد", "ښځې", "غږیز"],
        ],
        "share": [
            ["شریک یې کړئ", "فېسبوک", "ټویټر", "واټس اپ"],
            ["دا خبر شریک کړئ", "فېسبوک", "ایکس", "برېښنالیک"],
            ["شریکول", "واټس اپ", "ټویټر", "لینک کاپي کړئ"],
            ["له ملګرو سره یې شریک کړئ", "فېسبوک", "ټېلیګرام", "چاپ"],
        ],
        "byline": ["{name}، خبریال", "لیکوال: {name}", "{name} — {site}، کابل", "راپور: {name}"],
        "names": ["احمد شاه ملګری", "مریم احمدزۍ", "نصیر احمد", "زرغونه وردګ", "عبدالله خپلواک", "شبنم ساپۍ"],
        "date": ["خپور شوی {d} {m} {y} {hh}:{mm}", "{d} {m} {y} — تازه شوی {hh}:{mm}",
                 "نېټه: {d} {m} {y}", "وروستی ځل تازه شوی {d} {m} {y}"],
        "months": ["جنوري", "فبروري", "مارچ", "اپرېل", "مۍ", "جون", "جولای", "اګست", "سپتمبر", "اکتوبر", "نومبر", "ډسمبر"],
        "caption": ["{scene} (انځور: اې اف پي)", "{scene} — انځور: رویټرز", "{scene}. عکس: ارشیف",
                    "{scene} | انځور د اې پي په مرسته"],
        "scenes": ["د پېښې ځای ته راټول شوي خلک", "د غونډې یوه صحنه", "د ښار یو بوخت سړک", "د خبري غونډې پر مهال"],
        "read_more": ["نور ولولئ: {t}", "دا هم ولولئ: {t}", "نور لوستل: {t}", "دا هم وګورئ: {t}"],
        "related": ["اړوند خبرونه", "په دې اړه نور", "اړوندې لیکنې", "ستاسو لپاره نور"],
        "most_read": ["ډېر لوستل شوي", "تر ټولو مشهور", "تر ټولو ډېر کتل شوي", "مهم خبرونه"],
        "tags": ["ټګونه: {a}، {b}", "موضوعګانې: {a}، {b}", "اړوندې موضوعګانې: {a}", "ټګ: {a}، {b}"],
        "newsletter": [
            "زموږ خبرپاڼې ته د ګډون لپاره خپل برېښنالیک ولیکئ",
            "تازه خبرونه خپل برېښنالیک ته ترلاسه کړئ. ګډون وکړئ",
            "ورځنۍ خبرپاڼې ته نوم ولیکئ",
            "زموږ د واټس اپ چینل تعقیب کړئ",
        ],
        "cookie": [
            "دا وېبپاڼه ستاسو د تجربې د ښه کولو لپاره کوکیز کاروي. د وېبپاڼې په کارولو سره تاسو زموږ د کوکیز له تګلارې سره موافق یاست.",
            "موږ کوکیز کاروو. ومنئ",
            "په دې پاڼه کوکیز کارول کېږي. نور معلومات",
            "زموږ د محرمیت تګلاره او د کوکیز په اړه ولولئ. سمه ده",
        ],
        "comments": ["نظرونه ({n})", "خپل نظر ولیکئ", "د لوستونکو نظرونه", "نظر ورکړئ"],
        "comment_texts": [
            "ډېر ښه خبر دی، حکومت باید ژر پرې کار وکړي.",
            "دا ټولې زړې خبرې دي، څه نوي ووایاست.",
            "خدای دې زموږ پر هېواد رحم وکړي، ډېره خواشینوونکې ده.",
            "خبریال ډېر په تفصیل سره لیکلي، مننه.",
        ],
        "bio": [
            "{name} یو خبریال دی چې پنځلس کاله یې د سیاست او اقتصاد راپورونه ورکړي دي. هغه د کابل پوهنتون فارغ دی.",
            "{name} له {site} سره تړلی مشر خبریال دی او د پارلمان خبرونه پوښي.",
            "لیکوال یو کالم لیکونکی او شنونکی دی. په ټویټر ورسره اړیکه نیولی شئ.",
            "{name} لس کاله په خبریالۍ کې کار کوي او په بهرنیو چارو لیکي.",
        ],
        "footer": [
            ["زموږ په اړه", "اړیکه", "د محرمیت تګلاره", "اعلانونه"],
            ["ټول حقونه خوندي دي © {y} {site}"],
            ["شرطونه او مقررات", "له موږ سره اړیکه", "دندې"],
            ["© {y} {site}. ټول حقونه خوندي دي"],
        ],
        "topics": ["سیاست", "افغانستان", "نړیوال", "اقتصاد", "ورزش", "روغتیا"],
    },
    "en": {
        "sites": ["The Daily Voice", "News Desk Online", "Frontier Times", "The Morning Post"],
        "nav": [
            ["Home", "Pakistan", "World", "Sport", "Business", "Entertainment", "Health", "Video"],
            ["Front page", "Latest", "National", "International", "Showbiz", "Science", "Blogs", "Opinion"],
            ["Home", "Pakistan", "World news", "Cricket", "Economy", "Technology", "Pictures"],
            ["Main", "Country", "Around the world", "Sports world", "Trade", "Culture", "Audio"],
        ],
        "share": [
            ["Share", "Facebook", "Twitter", "WhatsApp"],
            ["Share this story", "Facebook", "X", "Email"],
            ["Share", "WhatsApp", "Twitter", "Copy link"],
            ["Share with friends", "Facebook", "Telegram", "Print"],
        ],
        "byline": ["By {name}", "{name}, Correspondent", "{name} — {site}, Islamabad", "Report: {name}"],
        "names": ["Imran Khalid", "Fatima Raza", "Ahmed Nawaz", "Sara Malik", "Bilal Hussain", "Ayesha Siddiqui"],
        "date": ["Published {d} {m} {y} {hh}:{mm}", "{d} {m} {y} — updated {hh}:{mm}",
                 "Posted: {d} {m} {y}", "Last updated {d} {m} {y}"],
        "months": ["January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December"],
        "caption": ["{scene} (Photo: AFP)", "{scene} — Photo: Reuters", "{scene}. File photo",
                    "{scene} | Photo courtesy AP"],
        "scenes": ["People gather at the scene", "A view of the meeting", "A busy road in the city", "During the press conference"],
        "read_more": ["Read more: {t}", "Also read: {t}", "Read More: {t}", "See also: {t}"],
        "related": ["Related news", "Related", "Related stories", "More for you"],
        "most_read": ["Most read", "Most popular", "Most viewed", "Top stories"],
        "tags": ["Tags: {a}, {b}", "Topics: {a}, {b}", "Related topics: {a}", "Tag: {a}, {b}"],
        "newsletter": [
            "Enter your email to get our newsletter",
            "Get the latest news in your inbox. Subscribe",
            "Sign up for the daily briefing",
            "Follow our WhatsApp channel",
        ],
        "cookie": [
            "This website uses cookies to improve your experience. By using the website you agree to our cookie policy.",
            "We use cookies. Accept",
            "This site uses cookies. Learn more",
            "Read about our privacy policy and cookies. OK",
        ],
        "comments": ["Comments ({n})", "Leave a comment", "Reader comments", "Comment"],
        "comment_texts": [
            "Very good news, the government should look at this at once.",
            "These are all old things, tell us something new.",
            "May God have mercy on our country, a very sad situation.",
            "The reporter has written in great detail, thank you.",
        ],
        "bio": [
            "{name} is a journalist with 15 years of experience covering politics and the economy. A graduate of Quaid-i-Azam University.",
            "{name} is a senior correspondent with {site} who covers parliament.",
            "The writer is a columnist and analyst. He can be reached on Twitter.",
            "{name} has worked in journalism for ten years and writes on foreign affairs.",
        ],
        "footer": [
            ["About us", "Contact", "Privacy policy", "Advertise"],
            ["All rights reserved © {y} {site}"],
            ["Terms and conditions", "Contact us", "Careers"],
            ["© {y} {site}. All rights reserved"],
        ],
        "topics": ["Politics", "Pakistan", "World", "Economy", "Sport", "Courts"],
    },
}


def documents(ntrex, lang):
    ids = ntrex.joinpath("DOCUMENT_IDS.tsv").read_text(encoding="utf-8").split("\n")
    lines = ntrex.joinpath(FILES[lang]).read_text(encoding="utf-8").split("\n")
    docs = {}
    for doc, line in zip(ids, lines):
        doc = doc.strip()
        if doc and line.strip():
            docs.setdefault(doc, []).append(line.strip())
    return docs


def paragraphs(sentences, rng):
    out, i = [], 0
    while i < len(sentences):
        n = rng.choice([1, 2, 2, 3])
        out.append(" ".join(sentences[i : i + n]))
        i += n
    return out


def page(lang, doc, title, paras, teasers, pool, rng):
    c = CHROME[lang]
    pick = lambda key: rng.choice(c[key][pool::2])  # noqa: E731
    e = html.escape
    site = pick("sites")
    name = rng.choice(c["names"])
    y = rng.choice([2023, 2024, 2025])
    fill = dict(site=site, name=name, y=y)
    date = pick("date").format(
        d=rng.randint(1, 28), m=rng.choice(c["months"]), y=y,
        hh=f"{rng.randint(0, 23):02}", mm=f"{rng.randint(0, 59):02}")
    direction = "ltr" if lang == "en" else "rtl"
    nav = "".join(f'<li><a href="/section/{i}">{e(x)}</a></li>' for i, x in enumerate(pick("nav")))
    share = pick("share")
    share_html = f'<div class="share"><span>{e(share[0])}</span>' + "".join(
        f'<a href="https://example.com/share/{i}">{e(x)}</a>' for i, x in enumerate(share[1:])) + "</div>"
    caption = pick("caption").format(scene=rng.choice(c["scenes"]))
    mid = rng.randint(1, max(1, len(paras) - 1))
    body = []
    for i, p in enumerate(paras):
        if i == mid and teasers:
            body.append(f'<p class="read-more"><a href="/story/{i}">{e(pick("read_more").format(t=teasers[0]))}</a></p>')
        body.append(f"<p>{e(p)}</p>")
    topics = rng.sample(c["topics"], 2)
    tags = pick("tags").format(a=topics[0], b=topics[1])
    related = "".join(f'<li><a href="/story/r{i}">{e(t)}</a></li>' for i, t in enumerate(teasers[1:5]))
    most = "".join(f'<li><a href="/story/m{i}">{e(t)}</a></li>' for i, t in enumerate(teasers[5:9]))
    comments = "".join(
        f'<div class="comment"><b>{e(rng.choice(c["names"]))}</b><p>{e(t)}</p></div>'
        for t in rng.sample(c["comment_texts"], 2))
    footer = "".join(f'<a href="/f/{i}">{e(x.format(**fill))}</a> ' for i, x in enumerate(pick("footer")))
    source = f"""<!DOCTYPE html>
<html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">
<title>{e(title)} | {e(site)}</title>
<meta property="og:title" content="{e(title)}">
<meta property="og:site_name" content="{e(site)}">
<link rel="canonical" href="https://news.example.com/{lang}/{doc}">
</head><body>
<div class="cookie-banner">{e(pick("cookie"))}</div>
<header><a class="logo" href="/">{e(site)}</a><nav><ul>{nav}</ul></nav></header>
<main><article>
<div class="breadcrumb"><a href="/">{e(pick("nav")[0])}</a> › <a href="/s">{e(topics[0])}</a></div>
<h1>{e(title)}</h1>
<div class="meta"><span class="byline">{e(pick("byline").format(**fill))}</span> <time>{e(date)}</time></div>
{share_html}
<figure><img src="/img/{doc}.jpg" alt=""><figcaption>{e(caption)}</figcaption></figure>
{"".join(body)}
<div class="tags">{e(tags)}</div>
<div class="author-bio"><p>{e(pick("bio").format(**fill))}</p></div>
{share_html}
</article>
<aside><h2>{e(pick("related"))}</h2><ul>{related}</ul></aside>
<aside><h2>{e(pick("most_read"))}</h2><ol>{most}</ol></aside>
<div class="newsletter"><p>{e(pick("newsletter"))}</p><input type="email"></div>
<section class="comments"><h3>{e(pick("comments").format(n=rng.randint(2, 40)))}</h3>{comments}</section>
</main>
<footer>{footer}</footer>
</body></html>
"""
    expected = "<div>" + "".join(f"<p>{e(p)}</p>" for p in paras) + "</div>\n"
    meta = {"title": title, "byline": None, "dir": direction, "lang": lang,
            "excerpt": paras[0], "siteName": site, "publishedTime": None, "readerable": True}
    return source, expected, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--langs", default="ur,ps,en")
    ap.add_argument("--ntrex", type=pathlib.Path, default=HERE.parent / "tests/data/ntrex128")
    args = ap.parse_args()
    count = {}
    for lang in args.langs.split(","):
        docs = documents(args.ntrex, lang)
        titles = [lines[0] for lines in docs.values()]
        for k, (doc, lines) in enumerate(sorted(docs.items())):
            if len(lines) < 4:
                continue
            rng = random.Random(f"{lang}-{doc}")
            pool = k % 2
            family = ["dev", "held"][pool]
            teasers = rng.sample([t for t in titles if t != lines[0]], 9)
            # NTREX gives some headlines a full stop; a page's headline has none.
            title = lines[0].rstrip(".۔ \u200e\u200f")
            source, expected, meta = page(lang, doc, title, paragraphs(lines[1:], rng), teasers, pool, rng)
            d = args.out / family / f"{lang}-{doc}"
            d.mkdir(parents=True, exist_ok=True)
            d.joinpath("source.html").write_text(source, encoding="utf-8")
            d.joinpath("expected.html").write_text(expected, encoding="utf-8")
            d.joinpath("expected-metadata.json").write_text(
                json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            count[family] = count.get(family, 0) + 1
    print(", ".join(f"{n} pages in {args.out / f}" for f, n in sorted(count.items())))


if __name__ == "__main__":
    main()
