use super::*;
use crate::digest::fixtures;

/// A translator that looks sentences up in a table, per attempt.
struct Fake {
    info: TranslatorInfo,
    first: Vec<(&'static str, &'static str)>,
    retry: Vec<(&'static str, &'static str)>,
    calls: Vec<(String, Attempt)>,
}

impl Fake {
    fn new(
        first: Vec<(&'static str, &'static str)>,
        retry: Vec<(&'static str, &'static str)>,
    ) -> Self {
        Self {
            info: TranslatorInfo {
                backend: "fake".into(),
                model: "table".into(),
                licence: "none".into(),
            },
            first,
            retry,
            calls: vec![],
        }
    }
}

impl Translator for Fake {
    fn info(&self) -> &TranslatorInfo {
        &self.info
    }
    fn serves(&self, _: Lang, _: Lang) -> bool {
        true
    }
    fn translate(&mut self, s: &str, _: Lang, _: Lang, a: Attempt) -> Result<Output> {
        self.calls.push((s.to_string(), a));
        let table = if a == Attempt::First {
            &self.first
        } else {
            &self.retry
        };
        let text = table
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| "ترجمہ نہیں ہے۔".to_string());
        Ok(Output { text, cut: false })
    }
}

#[test]
fn missing_numbers_normalizes_digits_and_counts_repeats() {
    assert!(missing_numbers("27 people and 1,200 families", "۲۷ افراد اور 1200 خاندان").is_empty());
    assert_eq!(missing_numbers("3 of 3 votes", "3 ووٹ"), vec!["3"]);
    assert_eq!(missing_numbers("4.5 percent", "4 فیصد"), vec!["4.5"]);
}

#[test]
fn digits_are_written_in_the_chosen_script() {
    assert_eq!(
        set_digits("سال 2024 میں ۱۲", Lang::Ur, Digits::Latin),
        "سال 2024 میں 12"
    );
    assert_eq!(set_digits("سال 2024", Lang::Ps, Digits::Native), "سال ۲۰۲۴");
    assert_eq!(set_digits("In ۲۰۲۴", Lang::En, Digits::Native), "In ۲۰۲۴");
}

#[test]
fn wrong_language_catches_urdu_for_pashto_and_persian_for_urdu() {
    let ur = "وزیر اعظم نے پیر کو کہا کہ حکومت نئے منصوبے شروع کرے گی۔";
    let ps = "صدراعظم د دوشنبې په ورځ وویل چې حکومت به نوې پروژې پیل کړي.";
    let fa = "نخست وزیر روز دوشنبه گفت که دولت طرح های جدید را آغاز خواهد کرد.";
    assert_eq!(wrong_language(ur, Lang::Ur), None);
    assert_eq!(wrong_language(ps, Lang::Ps), None);
    assert!(wrong_language(ur, Lang::Ps).unwrap().contains("Urdu"));
    assert!(wrong_language(ps, Lang::Ur).unwrap().contains("Pashto"));
    assert!(wrong_language(fa, Lang::Ur).unwrap().contains("Persian"));
    assert!(wrong_language(fa, Lang::Ps).is_some());
    assert!(wrong_language("The minister said so.", Lang::Ur).is_some());
    assert!(wrong_language(ur, Lang::En).is_some());
    assert_eq!(wrong_language("12", Lang::Ps), None);
}

#[test]
fn a_sentence_that_loses_a_number_is_retried_then_kept_when_fixed() {
    let mut t = Fake::new(
        vec![
            ("Prices rose 4.5 percent.", "قیمتوں میں اضافہ ہوا۔"),
            ("It rained.", "بارش ہوئی۔"),
        ],
        vec![("Prices rose 4.5 percent.", "قیمتوں میں 4.5 فیصد اضافہ ہوا۔")],
    );
    let out = translate_text(
        &mut t,
        "summary",
        "Prices rose 4.5 percent. It rained.",
        Lang::En,
        Lang::Ur,
        TranslateOptions::default(),
    )
    .unwrap();
    assert_eq!(out.text, "قیمتوں میں 4.5 فیصد اضافہ ہوا۔ بارش ہوئی۔");
    assert!(out.flags.is_empty());
    assert_eq!(out.retried, 1);
    assert_eq!(t.calls.len(), 3);
    assert_eq!(t.calls[1].1, Attempt::Retry);
}

#[test]
fn a_number_still_lost_after_the_retry_is_flagged_and_kept() {
    let mut t = Fake::new(
        vec![("27 people died.", "لوگ ہلاک ہوئے۔")],
        vec![("27 people died.", "کئی لوگ ہلاک ہوئے۔")],
    );
    let out = translate_text(
        &mut t,
        "key_facts[0]",
        "27 people died.",
        Lang::En,
        Lang::Ur,
        TranslateOptions::default(),
    )
    .unwrap();
    assert_eq!(out.flags.len(), 1);
    assert!(out.flags[0].problem.contains("27"));
    assert!(!out.flags[0].dropped);
    assert!(!out.text.is_empty());
}

#[test]
fn wrong_language_output_is_left_out_and_flagged() {
    let urdu = "وزیر اعظم نے پیر کو کہا کہ حکومت نئے منصوبے شروع کرے گی۔";
    let mut t = Fake::new(
        vec![("The minister spoke.", urdu)],
        vec![("The minister spoke.", urdu)],
    );
    let out = translate_text(
        &mut t,
        "headline",
        "The minister spoke.",
        Lang::En,
        Lang::Ps,
        TranslateOptions::default(),
    )
    .unwrap();
    assert_eq!(out.text, "");
    assert!(out.flags[0].dropped);
    assert!(out.flags[0].problem.contains("Urdu"));
}

#[test]
fn digest_translation_carries_language_direction_licence_and_warnings() {
    let mut d = fixtures::sample("a", Lang::En, "Floods hit 3 towns", None, None);
    let facts = d.key_facts.clone();
    let mut first = vec![];
    for f in &facts {
        first.push((Box::leak(f.clone().into_boxed_str()) as &str, "ایک حقیقت۔"));
    }
    let mut t = Fake::new(first, vec![]);
    translate_digest(
        &mut t,
        &mut d,
        Lang::Ur,
        TranslateOptions {
            digits: Digits::Native,
        },
    )
    .unwrap();
    let tr = &d.translations[0];
    assert_eq!(tr.lang, Lang::Ur);
    assert_eq!(tr.dir, lang::Dir::Rtl);
    assert_eq!(tr.licence, "none");
    assert_eq!(tr.key_facts.len(), facts.len());
    assert_eq!(tr.digits, Digits::Native);
    // Every flag is also a warning.
    let flagged = tr.flags.len();
    assert_eq!(
        d.warnings
            .iter()
            .filter(|w| w.starts_with("translation to Urdu"))
            .count(),
        flagged
    );
    // Translating again replaces, not duplicates.
    translate_digest(&mut t, &mut d, Lang::Ur, TranslateOptions::default()).unwrap();
    assert_eq!(d.translations.len(), 1);
}

#[test]
fn llm_replies_are_cleaned() {
    assert_eq!(llm::clean_reply("\n Urdu: \"سلام\"\nnote", Lang::Ur), "سلام");
    assert_eq!(llm::clean_reply("Translation: hello", Lang::En), "hello");
}

/// Professional Urdu and Pashto translations (NTREX-128) are almost never
/// taken for another language, and English sources never pass as either.
#[test]
fn language_check_accepts_professional_translations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ntrex128");
    for (file, lang) in [
        ("newstest2019-ref.urd.txt", Lang::Ur),
        ("newstest2019-ref.pus.txt", Lang::Ps),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let wrong: Vec<&&str> = lines
            .iter()
            .filter(|l| wrong_language(l, lang).is_some())
            .collect();
        let share = wrong.len() as f64 / lines.len() as f64;
        assert!(
            share < 0.02,
            "{file}: {:.1}% flagged, e.g. {:?}",
            100.0 * share,
            wrong.first()
        );
    }
    let en = std::fs::read_to_string(dir.join("newstest2019-src.eng.txt")).unwrap();
    for l in en
        .lines()
        .filter(|l| l.chars().filter(|c| c.is_alphabetic()).count() > 20)
        .take(300)
    {
        assert!(
            wrong_language(l, Lang::Ur).is_some() && wrong_language(l, Lang::Ps).is_some(),
            "{l}"
        );
    }
}
