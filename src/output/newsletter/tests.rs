use super::*;
use crate::digest::fixtures::sample;

fn opts(lang: Lang) -> NewsletterOptions {
    NewsletterOptions {
        title: "Morning brief".into(),
        date: Some("2024-08-12".into()),
        lang,
        group: GroupBy::Source,
        template: None,
    }
}

fn digests() -> Vec<Digest> {
    vec![
        sample(
            "b",
            Lang::En,
            "Second story",
            Some("2024-08-12T09:00:00Z"),
            Some("https://www.dawn.com/news/2"),
        ),
        sample(
            "a",
            Lang::En,
            "First story",
            Some("2024-08-12T07:00:00Z"),
            Some("https://www.dawn.com/news/1"),
        ),
        sample(
            "c",
            Lang::En,
            "Wire story",
            Some("2024-08-11T23:00:00Z"),
            None,
        ),
        sample("u", Lang::Ur, "اردو خبر", None, None),
    ]
}

#[test]
fn markdown_groups_and_orders_by_time() {
    let (md, left_out) = render(&digests(), NewsletterFormat::Markdown, &opts(Lang::En)).unwrap();
    assert_eq!(left_out, 1);
    assert!(md.starts_with("# Morning brief\n"));
    let (dawn, wire) = (md.find("## dawn.com").unwrap(), md.find("## wire").unwrap());
    assert!(dawn < wire);
    assert!(md.find("### First story").unwrap() < md.find("### Second story").unwrap());
    assert!(
        md.contains("[First story](https://www.dawn.com/news/1)")
            || md.contains("(https://www.dawn.com/news/1)")
    );
}

#[test]
fn html_is_self_contained_rtl_with_font_for_urdu() {
    let (html, _) = render(&digests(), NewsletterFormat::Html, &opts(Lang::Ur)).unwrap();
    assert!(html.contains("<html lang=\"ur\" dir=\"rtl\">"));
    assert!(html.contains("@font-face { font-family: 'Noto Nastaliq Urdu'"));
    assert!(html.contains("data:font/woff2;base64,"));
    assert!(html.contains("اردو خبر"));
    assert!(!html.contains("<link") && !html.contains("<script"));
    let (en, _) = render(&digests(), NewsletterFormat::Html, &opts(Lang::En)).unwrap();
    assert!(en.contains("<html lang=\"en\" dir=\"ltr\">") && !en.contains("@font-face"));
}

#[test]
fn output_is_deterministic_and_escaped() {
    let mut d = digests();
    d[0].headline = "Tom & <Jerry>".into();
    let a = render(&d, NewsletterFormat::Html, &opts(Lang::En))
        .unwrap()
        .0;
    d.reverse();
    let b = render(&d, NewsletterFormat::Html, &opts(Lang::En))
        .unwrap()
        .0;
    assert_eq!(a, b);
    assert!(a.contains("Tom &amp; &lt;Jerry&gt;"));
}

#[test]
fn date_grouping_and_template_override() {
    let mut o = opts(Lang::En);
    o.group = GroupBy::Date;
    o.template = Some("{% for g in groups %}{{ g.name }}:{{ g.items|length }};{% endfor %}".into());
    let (s, _) = render(&digests(), NewsletterFormat::Markdown, &o).unwrap();
    assert_eq!(s, "2024-08-11:1;2024-08-12:2;");
}

#[test]
fn uses_a_translation_when_the_digest_has_one() {
    let mut d = digests();
    d[0].translations.push(crate::digest::Translation {
        lang: Lang::Ur,
        dir: Dir::Rtl,
        headline: "دوسری خبر".into(),
        summary: "خلاصہ۔".into(),
        key_facts: vec!["ایک۔".into(), "دو۔".into(), "تین۔".into()],
        backend: "llm".into(),
        model: "m".into(),
        licence: "Apache-2.0".into(),
        digits: Default::default(),
        retried: 0,
        flags: vec![],
    });
    let (md, left_out) = render(&d, NewsletterFormat::Markdown, &opts(Lang::Ur)).unwrap();
    assert_eq!(left_out, 2);
    assert!(md.contains("### دوسری خبر") && md.contains("### اردو خبر"));
    assert!(!md.contains("Second story"));
}
