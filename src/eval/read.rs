//! `khulasa eval --task read`: the article reader scored on saved web pages
//! in Mozilla Readability's layout (`source.html`, `expected.html`,
//! `expected-metadata.json`), as HTML and as a pasted page (`pasted.txt`,
//! made by `tools/paste-pages.sh`). Scores: word and 4-word-shingle
//! precision, recall and F1 (the Scrapinghub article-extraction benchmark's
//! metric: per-page precision and recall averaged, F1 of the averages),
//! title accuracy, and the pages whose article was lost (recall < 0.5).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metrics::{rouge_n, rouge_tokens, Prf};
use crate::article::{self, ReadOptions};
use crate::error::{Error, Result};
use crate::lang;

/// How a page is given to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The saved HTML (`source.html`).
    Html,
    /// The page's visible text as select-all + copy gives it (`pasted.txt`).
    Pasted,
}

impl Mode {
    fn file(self) -> &'static str {
        match self {
            Mode::Html => "source.html",
            Mode::Pasted => "pasted.txt",
        }
    }
}

/// One saved page with what a reader should extract from it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The page's folder name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The article text a good reader extracts (from `expected.html`).
    pub expected: String,
    /// The expected title.
    pub title: String,
    /// The headlines shown on the page (`og:title` and `<h1>` headings of
    /// three words or more), each also a right title: the `<title>` is
    /// often a longer or search-engine form of the headline the page shows,
    /// and a pasted page holds only the one it shows.
    pub headlines: Vec<String>,
}

/// Loads every page folder under `dir` (those with an `expected.html`), in
/// name order; `only` keeps the named ones.
pub fn load_pages(dir: &Path, only: &[String]) -> Result<Vec<Page>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut pages = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.join("expected.html").is_file() || (!only.is_empty() && !only.contains(&name)) {
            continue;
        }
        let read = |f: &str| {
            let p = path.join(f);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
        };
        // Letter forms as the reader writes them (ك → ک, Urdu's ي → ی), so
        // that a spelling variant of the same letter is not a missed word.
        let text = article::html_text(&read("expected.html")?);
        let expected = lang::normalize_letters(&text, lang::detect(&text).lang);
        let meta: serde_json::Value =
            serde_json::from_str(&read("expected-metadata.json").unwrap_or_else(|_| "{}".into()))
                .map_err(|source| Error::Json {
                what: path.join("expected-metadata.json").display().to_string(),
                source,
            })?;
        let title = meta["title"].as_str().unwrap_or_default();
        let title = lang::normalize_letters(title, lang::detect(title).lang);
        let headlines = read("source.html")
            .map(|h| shown_headlines(&h))
            .unwrap_or_default();
        pages.push(Page {
            name,
            dir: path,
            expected,
            title,
            headlines,
        });
    }
    if pages.is_empty() {
        return Err(Error::bad_input(
            dir.display().to_string(),
            "holds no page folders with an expected.html; give a folder in Readability's test-page layout",
        ));
    }
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pages)
}

/// How the reader did on one page in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct PageScore {
    /// The page's folder name.
    pub name: String,
    /// Word (bag of words) precision, recall and F1.
    pub word: Prf,
    /// 4-word-shingle precision, recall and F1.
    pub shingle: Prf,
    /// The title read, if any.
    pub title: Option<String>,
    /// Whether the title equals the expected one (words, case ignored; a
    /// trailing `| Site` part of either left out).
    pub title_right: bool,
    /// The reader's error, when it refused the page.
    pub error: Option<String>,
}

impl PageScore {
    /// The article was lost: under half of its words came out.
    pub fn lost(&self) -> bool {
        self.word.recall < 0.5
    }
}

/// Scores of one mode over a folder of pages.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    /// The mode.
    pub mode: Mode,
    /// Pages scored.
    pub pages: usize,
    /// Word scores: mean precision and recall, F1 of the two.
    pub word: Prf,
    /// 4-word-shingle scores, aggregated the same way.
    pub shingle: Prf,
    /// Share of pages with the right title.
    pub title_accuracy: f64,
    /// Pages whose article was lost (word recall < 0.5), with their recall.
    pub lost: Vec<(String, f64)>,
    /// Pages the reader refused, with its message.
    pub failed: Vec<(String, String)>,
    /// Bytes read.
    pub bytes: usize,
    /// Seconds spent reading them (the reader alone, not the scoring).
    pub read_secs: f64,
    /// Every page's scores.
    pub per_page: Vec<PageScore>,
}

impl ReadReport {
    /// Reading time per megabyte of input, in milliseconds.
    pub fn ms_per_mb(&self) -> f64 {
        self.read_secs * 1000.0 / (self.bytes.max(1) as f64 / 1_048_576.0)
    }
}

/// The headlines a page shows: its `og:title` and its `<h1>` headings of
/// three words or more (a one-word `<h1>` is the site's logo).
fn shown_headlines(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let mut out = Vec::new();
    if let Ok(og) = scraper::Selector::parse(r#"meta[property="og:title"]"#) {
        out.extend(
            doc.select(&og)
                .filter_map(|m| m.value().attr("content"))
                .map(str::to_string),
        );
    }
    if let Ok(h1) = scraper::Selector::parse("h1") {
        out.extend(
            doc.select(&h1)
                .map(|h| h.text().collect::<Vec<_>>().join(" "))
                .filter(|t| t.split_whitespace().count() >= 3),
        );
    }
    out
}

impl Page {
    /// Whether `title` is this page's title: the expected one or a headline
    /// the page shows.
    pub fn title_is(&self, title: &str) -> bool {
        same_title(title, &self.title) || self.headlines.iter().any(|h| same_title(title, h))
    }
}

/// True when two titles have the same words, either one also read without
/// its trailing site, section or author parts (`Headline | Site`,
/// `Headline - Site`, `标题_频道_网站`), as a page's `<title>` carries them.
fn same_title(ours: &str, expected: &str) -> bool {
    let forms = |t: &str| {
        let mut v = vec![rouge_tokens(t)];
        for sep in [" | ", " - ", " – ", " — ", " :: ", "_"] {
            v.extend(t.match_indices(sep).map(|(i, _)| rouge_tokens(&t[..i])));
        }
        v
    };
    let (a, b) = (forms(ours), forms(expected));
    a.iter().any(|x| !x.is_empty() && b.contains(x))
}

/// Scores one page's reading against what was expected.
pub fn score_page(page: &Page, read: Result<article::Article>) -> PageScore {
    let (title, body, error) = match read {
        Ok(a) => (a.title, a.body, None),
        Err(e) => (None, String::new(), Some(e.to_string())),
    };
    PageScore {
        name: page.name.clone(),
        word: rouge_n(&body, &page.expected, 1),
        shingle: rouge_n(&body, &page.expected, 4),
        title_right: title.as_deref().is_some_and(|t| page.title_is(t)),
        title,
        error,
    }
}

fn mean_prf(scores: impl Iterator<Item = Prf> + Clone) -> Prf {
    let n = scores.clone().count().max(1) as f64;
    let precision = scores.clone().map(|s| s.precision).sum::<f64>() / n;
    let recall = scores.map(|s| s.recall).sum::<f64>() / n;
    Prf::new(precision, recall)
}

/// Reads of each page timed; the median is its reading time.
const TIMED_READS: usize = 5;

/// Reads every page in `mode` with `opts` and scores it. A page without the
/// mode's file is an error naming the file and how to make it.
pub fn run(pages: &[Page], mode: Mode, opts: &ReadOptions) -> Result<ReadReport> {
    let mut per_page = Vec::with_capacity(pages.len());
    let (mut bytes, mut read_secs) = (0, 0.0);
    for page in pages {
        let path = page.dir.join(mode.file());
        if !path.is_file() {
            let hint = match mode {
                Mode::Html => "every page folder needs its source.html".to_string(),
                Mode::Pasted => format!(
                    "make the pasted pages first: tools/paste-pages.sh {}",
                    page.dir.parent().unwrap_or(&page.dir).display()
                ),
            };
            return Err(Error::bad_input(path.display().to_string(), hint));
        }
        let name = path.display().to_string();
        let raw = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        // The median of a few reads: one read of a small page takes about
        // a millisecond, which the noise of a shared machine can double.
        let timed = || {
            let t0 = std::time::Instant::now();
            let read = article::from_bytes(&name, &raw, opts);
            (read, t0.elapsed().as_secs_f64())
        };
        let (read, first) = timed();
        let mut times: Vec<f64> = std::iter::once(first)
            .chain((1..TIMED_READS).map(|_| timed().1))
            .collect();
        times.sort_by(f64::total_cmp);
        read_secs += times[TIMED_READS / 2];
        bytes += raw.len();
        per_page.push(score_page(page, read));
    }
    let mut report = summarize(mode, per_page);
    report.bytes = bytes;
    report.read_secs = read_secs;
    Ok(report)
}

fn summarize(mode: Mode, per_page: Vec<PageScore>) -> ReadReport {
    let pages = per_page.len();
    ReadReport {
        mode,
        pages,
        word: mean_prf(per_page.iter().map(|p| p.word)),
        shingle: mean_prf(per_page.iter().map(|p| p.shingle)),
        title_accuracy: per_page.iter().filter(|p| p.title_right).count() as f64
            / pages.max(1) as f64,
        lost: per_page
            .iter()
            .filter(|p| p.lost())
            .map(|p| (p.name.clone(), p.word.recall))
            .collect(),
        failed: per_page
            .iter()
            .filter_map(|p| p.error.clone().map(|e| (p.name.clone(), e)))
            .collect(),
        bytes: 0,
        read_secs: 0.0,
        per_page,
    }
}

/// Writes each pasted page's lines with the reader's features as JSONL
/// (`{"page", "line", "text", "features"}`), then its headline candidates
/// (`{"page", "title_candidate", "text", "features", "right"}`), for
/// fitting the reader.
pub fn dump_lines(pages: &[Page], path: &Path) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = std::io::BufWriter::new(file);
    for page in pages {
        let pasted = page.dir.join(Mode::Pasted.file());
        let Ok(text) = std::fs::read_to_string(&pasted) else {
            continue;
        };
        let lines = article::text_paragraphs(&text);
        let features = article::paste_model::features(&lines);
        for (i, (line, f)) in lines.iter().zip(features).enumerate() {
            let row = serde_json::json!({"page": page.name, "line": i, "text": line, "features": f.to_vec()});
            writeln!(out, "{row}").map_err(|e| Error::io(path, e))?;
        }
        let (p, start, end) = article::paste_model::story_run(&lines);
        for c in article::paste_model::title_candidates(&lines, &p, start, end) {
            let right = page.title_is(&c.text);
            let row = serde_json::json!({"page": page.name, "title_candidate": c.line, "text": c.text,
                "features": c.features.to_vec(), "right": right});
            writeln!(out, "{row}").map_err(|e| Error::io(path, e))?;
        }
    }
    out.flush().map_err(|e| Error::io(path, e))
}

/// The reports as a table for people, with the lost and failed pages.
pub fn table(reports: &[ReadReport], verbose: bool) -> String {
    let mut s = String::from(
        "mode    pages  word P  word R  word F1  shingle F1  title   lost  failed  ms/MB\n",
    );
    for r in reports {
        let mode = match r.mode {
            Mode::Html => "html",
            Mode::Pasted => "pasted",
        };
        s += &format!(
            "{mode:<7} {:>5}  {:>6.1}  {:>6.1}  {:>7.1}  {:>10.1}  {:>4.0} %  {:>4}  {:>6}  {:>5.1}\n",
            r.pages,
            r.word.precision * 100.0,
            r.word.recall * 100.0,
            r.word.f1 * 100.0,
            r.shingle.f1 * 100.0,
            r.title_accuracy * 100.0,
            r.lost.len(),
            r.failed.len(),
            r.ms_per_mb(),
        );
    }
    for r in reports {
        for (name, recall) in &r.lost {
            s += &format!("lost ({:?}): {name} (word recall {recall:.2})\n", r.mode);
        }
        for (name, e) in &r.failed {
            s += &format!("failed ({:?}): {name}: {e}\n", r.mode);
        }
        if verbose {
            for p in &r.per_page {
                s += &format!(
                    "{:?} {:<40} word P {:.2} R {:.2}  shingle F1 {:.2}  title {} {:?}\n",
                    r.mode,
                    p.name,
                    p.word.precision,
                    p.word.recall,
                    p.shingle.f1,
                    if p.title_right { "ok " } else { "BAD" },
                    p.title.as_deref().unwrap_or(""),
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(expected: &str, title: &str) -> Page {
        Page {
            name: "p".into(),
            dir: PathBuf::from("p"),
            expected: expected.into(),
            title: title.into(),
            headlines: Vec::new(),
        }
    }

    fn art(title: Option<&str>, body: &str) -> article::Article {
        article::from_bytes(
            "t.txt",
            format!("{}\n\n{body}", title.unwrap_or("")).as_bytes(),
            &ReadOptions {
                strip_furniture: false,
                ..ReadOptions::default()
            },
        )
        .map(|mut a| {
            a.title = title.map(str::to_string);
            a.body = body.into();
            a
        })
        .unwrap()
    }

    #[test]
    fn perfect_reading_scores_one_and_keeps_the_title() {
        let p = page("The quick brown fox jumps over the lazy dog.", "A Fox");
        let s = score_page(
            &p,
            Ok(art(
                Some("a fox"),
                "The quick brown fox jumps over the lazy dog.",
            )),
        );
        assert!((s.word.f1 - 1.0).abs() < 1e-9 && (s.shingle.f1 - 1.0).abs() < 1e-9);
        assert!(s.title_right && !s.lost());
    }

    #[test]
    fn extra_furniture_lowers_precision_and_a_lost_article_is_reported() {
        let p = page("one two three four five six seven eight", "T");
        let s = score_page(
            &p,
            Ok(art(
                Some("Other"),
                "one two three four five six seven eight share follow subscribe login",
            )),
        );
        assert!((s.word.recall - 1.0).abs() < 1e-9);
        assert!((s.word.precision - 8.0 / 12.0).abs() < 1e-9);
        assert!(!s.title_right);
        let lost = score_page(&p, Ok(art(None, "one two menu")));
        assert!(lost.lost());
        let r = summarize(Mode::Pasted, vec![s, lost]);
        assert_eq!(r.lost.len(), 1);
        assert!((r.word.recall - (1.0 + 2.0 / 8.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_site_suffix_does_not_make_a_title_wrong() {
        assert!(same_title("Floods in Swat", "Floods in Swat | Dawn"));
        assert!(same_title("Floods in Swat - Dawn", "Floods in Swat"));
        assert!(!same_title("Floods in Sindh", "Floods in Swat | Dawn"));
        assert!(same_title(
            "斯瓦特发生洪水",
            "斯瓦特发生洪水_国际频道_新闻网"
        ));
        assert!(!same_title("国际频道", "斯瓦特发生洪水_国际频道_新闻网"));
        assert!(!same_title("", ""));
    }

    #[test]
    fn the_headline_a_page_shows_is_a_right_title_too() {
        let html = r#"<html><head><title>Neon's modern ambitions - CityLab</title>
            <meta property="og:title" content="The Modern Ambitions Behind Neon"></head>
            <body><h1>CityLab</h1><h1>Why Neon Is the Ultimate Symbol</h1></body></html>"#;
        let mut p = page("x", "Neon's modern ambitions - CityLab");
        p.headlines = shown_headlines(html);
        assert_eq!(
            p.headlines,
            [
                "The Modern Ambitions Behind Neon",
                "Why Neon Is the Ultimate Symbol"
            ]
        );
        assert!(p.title_is("Why Neon Is the Ultimate Symbol"));
        assert!(p.title_is("The Modern Ambitions Behind Neon"));
        assert!(p.title_is("Neon's modern ambitions"));
        assert!(!p.title_is("CityLab"));
        assert!(!p.title_is("Why Neon"));
    }

    #[test]
    fn a_refused_page_counts_as_failed_and_lost() {
        let p = page("one two three four", "T");
        let s = score_page(&p, Err(Error::bad_input("x", "no article found")));
        assert!(s.lost() && s.error.is_some());
        let r = summarize(Mode::Html, vec![s]);
        assert_eq!(r.failed.len(), 1);
        assert!(table(&[r], false).contains("failed (Html): p"));
    }
}
