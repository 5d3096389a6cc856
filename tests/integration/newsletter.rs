//! The HTML newsletter in a real browser: headless Chromium lays Urdu out
//! right to left in the embedded Noto Nastaliq Urdu font, not as boxes.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::cargo::CommandCargoExt;

fn digest(
    id: &str,
    lang: &str,
    headline: &str,
    summary: &str,
    facts: [&str; 3],
) -> serde_json::Value {
    serde_json::json!({
        "schema_version": 1, "headline": headline, "summary": summary, "key_facts": facts, "language": lang,
        "source": {"path": format!("desk/{id}.txt"), "title": null, "word_count": 120, "sha256": "0".repeat(64), "format": "text", "furniture_removed": 0},
        "model": {"id": "m", "sha256": "1".repeat(64), "licence": "Apache-2.0", "architecture": "qwen2"},
        "prompt_version": "digest@1", "chunks": 1, "passes": [], "timings": {
            "load_secs": 0.0, "prompt_tokens": 0, "generated_tokens": 0, "prompt_secs": 0.0, "generate_secs": 0.0,
            "prompt_tokens_per_sec": 0.0, "generated_tokens_per_sec": 0.0, "total_secs": 0.0},
        "warnings": [], "batch": {"id": id, "key": "k", "published": "2024-08-12T08:00:00Z"}
    })
}

fn write_digests(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("digests.jsonl");
    let lines = [
        digest(
            "en1",
            "en",
            "Floods kill 30 in Swat valley",
            "Flash floods killed 30 people in Swat on Sunday.",
            [
                "30 people died.",
                "2,600 homes were damaged.",
                "Roads to 14 villages were cut.",
            ],
        ),
        digest(
            "ur1",
            "ur",
            "سوات میں سیلاب سے تیس افراد ہلاک",
            "اتوار کو سوات میں اچانک سیلاب سے تیس افراد ہلاک ہو گئے۔",
            [
                "تیس افراد ہلاک ہوئے۔",
                "دو ہزار چھ سو گھروں کو نقصان پہنچا۔",
                "چودہ دیہات کی سڑکیں بند ہو گئیں۔",
            ],
        ),
    ];
    std::fs::write(
        &p,
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    p
}

fn render(dir: &Path, lang: &str) -> String {
    let out = StdCommand::cargo_bin("khulasa")
        .unwrap()
        .args([
            "newsletter",
            write_digests(dir).to_str().unwrap(),
            "--format",
            "html",
            "--lang",
            lang,
            "--title",
            "Brief",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PROBE: &str = r#"<pre id="probe"></pre><script>
document.fonts.ready.then(() => {
  const h = document.querySelector('article h3');
  const t = h.firstChild, r = document.createRange();
  r.setStart(t, 0); r.setEnd(t, 1); const first = r.getBoundingClientRect().left;
  r.setStart(t, t.length - 1); r.setEnd(t, t.length); const last = r.getBoundingClientRect().left;
  const width = f => { const s = document.createElement('span'); s.style.fontFamily = f; s.textContent = h.textContent; document.body.appendChild(s); const w = s.getBoundingClientRect().width; s.remove(); return w; };
  document.getElementById('probe').textContent = JSON.stringify({
    dir: getComputedStyle(h).direction, family: getComputedStyle(h).fontFamily,
    first: first, last: last, loaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family),
    nastaliq: width("'Noto Nastaliq Urdu'"), fallback: width('no-such-font-family') });
});
</script>"#;

fn browser() -> String {
    for b in ["chromium", "chromium-browser", "google-chrome"] {
        if StdCommand::new("which")
            .arg(b)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return b.to_string();
        }
    }
    panic!(
        "headless Chromium is needed for this test: apt-get install chromium (scripts/test installs it)"
    );
}

fn probe(dir: &Path, html: &str, name: &str) -> serde_json::Value {
    let page = dir.join(name);
    std::fs::write(&page, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let out = StdCommand::new(browser())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("profile-{name}")).display()
        ))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"probe\">").expect("probe in DOM") + "<pre id=\"probe\">".len();
    let end = dom[start..].find("</pre>").unwrap() + start;
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{e}: {json}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn urdu_newsletter_is_rtl_in_nastaliq_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path(), &render(dir.path(), "ur"), "ur.html");
    assert_eq!(p["dir"], "rtl", "{p}");
    assert!(
        p["family"].as_str().unwrap().contains("Noto Nastaliq Urdu"),
        "{p}"
    );
    assert!(
        p["loaded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().contains("Noto Nastaliq Urdu")),
        "{p}"
    );
    assert!(
        p["first"].as_f64().unwrap() > p["last"].as_f64().unwrap(),
        "first letter must be right of the last: {p}"
    );
    let (n, f) = (
        p["nastaliq"].as_f64().unwrap(),
        p["fallback"].as_f64().unwrap(),
    );
    assert!(
        (n - f).abs() > 1.0,
        "the text must be drawn by the embedded font, not fallback boxes: {p}"
    );
}

#[test]
fn english_newsletter_is_ltr_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path(), &render(dir.path(), "en"), "en.html");
    assert_eq!(p["dir"], "ltr", "{p}");
    assert!(
        p["first"].as_f64().unwrap() < p["last"].as_f64().unwrap(),
        "{p}"
    );
}
