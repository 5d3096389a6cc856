use super::*;

fn read_str(name: &str, s: &str) -> Result<Article> {
    from_bytes(name, s.as_bytes(), &ReadOptions::default())
}

#[test]
fn rejects_empty_binary_and_bad_utf8() {
    let e = read_str("a.txt", "  \n\t ").unwrap_err().to_string();
    assert!(e.starts_with("a.txt: input is empty"), "{e}");
    let e = from_bytes("b.bin", b"abc\0def", &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("binary"));
    let e = from_bytes("c.txt", b"abc \xff\xfe", &ReadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("not valid UTF-8 (bad byte at offset 4)"),
        "{e}"
    );
}

#[test]
fn rejects_oversized() {
    let opts = ReadOptions {
        max_bytes: 10,
        ..Default::default()
    };
    let e = from_bytes("big.txt", b"0123456789abc", &opts).unwrap_err();
    assert!(e.to_string().contains("over the limit of 10"));
}

#[test]
fn missing_file_names_the_input() {
    let e = read("/no/such/article.txt", &ReadOptions::default()).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/no/such/article.txt: cannot read input"));
}

#[test]
fn json_title_body_and_text() {
    let a = read_str("x.json", r#"{"title":"Floods hit Sindh","body":"Heavy rain fell on Monday. Many homes were damaged."}"#).unwrap();
    assert_eq!(a.format, Format::Json);
    assert_eq!(a.title.as_deref(), Some("Floods hit Sindh"));
    let a = read_str(
        "-",
        r#"{"text":"Heavy rain fell on Monday in Karachi and Hyderabad."}"#,
    )
    .unwrap();
    assert_eq!(a.format, Format::Json);
    let e = read_str("y.json", r#"{"foo":1}"#).unwrap_err();
    assert!(e.to_string().contains("\"body\" or \"text\""));
}

#[test]
fn html_extracts_story_not_chrome() {
    let page = r#"<!doctype html><html><head><title>Site | Quake</title><style>p{}</style>
<script>var x = "do not read";</script></head><body>
<nav><a href="/">Home</a> <a>World</a></nav><header>The Daily Site</header>
<article><h1>Quake strikes northern Pakistan</h1>
<p>A magnitude 5.8 earthquake struck the region on Tuesday, officials said.</p>
<aside>Related: other quakes</aside>
<p>At least 12 people were injured, according to the disaster agency.</p></article>
<footer>Copyright 2024</footer></body></html>"#;
    let a = read_str("page.html", page).unwrap();
    assert_eq!(a.format, Format::Html);
    assert_eq!(a.title.as_deref(), Some("Quake strikes northern Pakistan"));
    assert!(a.body.contains("magnitude 5.8"));
    assert!(a.body.contains("At least 12 people"));
    for bad in ["do not read", "Home", "Related", "Copyright", "Daily Site"] {
        assert!(!a.body.contains(bad), "{bad} leaked into {}", a.body);
    }
}

#[test]
fn markdown_is_stripped() {
    let md = "# Budget passed\n\nThe **assembly** passed the [budget](http://x) on Friday.\n\n![photo](a.jpg)\n\n- It raises spending by 12%.\n";
    let a = read_str("b.md", md).unwrap();
    assert_eq!(a.title.as_deref(), Some("Budget passed"));
    assert!(a.body.contains("The assembly passed the budget on Friday."));
    assert!(!a.body.contains("http"));
    assert!(a.body.contains("It raises spending by 12%."));
}

#[test]
fn normalizes_whitespace_and_urdu_letters() {
    let a = read_str(
        "u.txt",
        "حكومت   نے\u{00a0}پير كو اعلان كيا۔ یہ فیصلہ اہم ہے۔",
    )
    .unwrap();
    assert_eq!(a.lang, Lang::Ur);
    assert!(a.body.contains("حکومت نے پیر کو اعلان کیا۔"), "{}", a.body);
}

#[test]
fn the_no_copy_check_agrees_with_normalize() {
    let lines = [
        "Plain ASCII line.",
        "two  spaces",
        " leading",
        "trailing ",
        "tab\there",
        "vertical\u{0b}tab",
        "",
        "curly \u{2019}quotes\u{2019} and \u{2014} dashes",
        "no-break\u{00a0}space",
        "e\u{301} not composed",
        "é composed",
        "حكومت نے",
        "حکومت نے پیر کو",
        "ideographic\u{3000}space",
        "left-to-right mark.\u{200e}",
        "هغه وویل.\u{200e} \u{200f}",
        "حکومت نے پیر کو اعلان کیا۔",
        "ښاغلي کلارک وویل چې موږ اړتیا لرو.",
        "دا کار کوي",
        "\u{FEFB}\u{FEF7} presentation forms",
        "ھە with Kurdish ae",
        "ى alef maksura",
        "ا\u{0654} combining hamza",
        "Pakistan\u{2019}s Urdu: حکومت",
    ];
    for lang in [Lang::En, Lang::Ur, Lang::Ps] {
        for l in lines {
            if is_normal(l, lang) {
                assert_eq!(normalize(l, lang), l, "{l:?} {lang:?}");
            }
        }
    }
    assert!(is_normal("Plain ASCII line.", Lang::En));
    assert!(is_normal("curly \u{2019}quotes\u{2019}", Lang::En));
    assert!(!is_normal("two  spaces", Lang::En));
    assert!(!is_normal("no-break\u{00a0}space", Lang::En));
    assert!(!is_normal("حكومت نے", Lang::En));
    assert!(!is_normal("mark.\u{200e}", Lang::En));
    // Urdu and Pashto lines with nothing to fix are kept without a copy;
    // Pashto's ي is its own letter, Urdu's is ی.
    assert!(is_normal("حکومت نے پیر کو اعلان کیا۔", Lang::Ur));
    assert!(is_normal("دا کار کوي", Lang::Ps));
    assert!(!is_normal("دا کار کوي", Lang::Ur));
}

#[test]
fn direction_marks_are_dropped_so_a_full_stop_ends_its_sentence() {
    // Pages of mixed scripts put LRM and RLM around words and after a
    // line's full stop.
    for lang in [Lang::En, Lang::Ur, Lang::Ps] {
        assert_eq!(
            normalize("انګلستان\u{200e} \u{200e}به وویل.\u{200e} \u{200e}", lang),
            "انګلستان به وویل."
        );
        assert_eq!(normalize("It ended.\u{200f}", lang), "It ended.");
    }
    assert!(crate::segment::ends_sentence(&normalize(
        "ښاغلي کلارک وویل، \"موږ معاملې ته اړتیا لرو.\"\u{200e}",
        Lang::Ps
    )));
}

#[test]
fn furniture_is_removed_and_recorded() {
    let page = "Floods kill 30 in Swat valley\nBy Ahmed Khan, Staff Reporter\nShare on Facebook\nShare on Twitter\n\
Flash floods killed 30 people in the Swat valley on Sunday, officials said, as rescue teams searched for the missing.\n\
Photo: AFP/Getty Images\n\
The provincial disaster authority said 2,600 homes were damaged and roads to 14 villages were cut.\n\
Top Stories\nPM visits China\nMarkets fall on rate fears\nCricket: Pakistan win series\n\
Comments\nAhmed Khan is a senior reporter covering Khyber Pakhtunkhwa.\n";
    let a = read_str("paste.txt", page).unwrap();
    assert_eq!(a.title.as_deref(), Some("Floods kill 30 in Swat valley"));
    assert!(a.body.contains("Flash floods killed 30 people"));
    assert!(a.body.contains("2,600 homes"));
    for bad in [
        "Share on",
        "By Ahmed",
        "AFP/Getty",
        "Top Stories",
        "PM visits",
        "Markets fall",
        "senior reporter",
        "Comments",
    ] {
        assert!(!a.body.contains(bad), "{bad} leaked into {}", a.body);
    }
    assert!(a.furniture_removed.len() >= 8, "{:?}", a.furniture_removed);
}

#[test]
fn hard_wrapped_text_is_joined_but_pasted_lines_are_not() {
    let wrapped = "The government announced on Monday that it would raise\nthe price of petrol by 10 rupees a litre from the first\nof next month, citing the rising cost of imported oil and\nthe weaker rupee.\n\nSecond paragraph here.";
    let a = read_str("w.txt", wrapped).unwrap();
    assert!(
        a.body.starts_with(
            "The government announced on Monday that it would raise the price of petrol"
        ),
        "{}",
        a.body
    );
    assert_eq!(a.body.matches("\n\n").count(), 1);
    let pasted = "Budget passed in Islamabad\nThe assembly passed the budget on Friday after a long debate.\nIt raises spending by 12%.";
    let a = read_str("p.txt", pasted).unwrap();
    assert_eq!(a.title.as_deref(), Some("Budget passed in Islamabad"));
    assert_eq!(a.body.matches("\n\n").count(), 1);
}

#[test]
fn example_pasted_page_is_only_the_story() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/pasted-page.txt"
    ))
    .unwrap();
    let a = read_str("pasted-page.txt", &page).unwrap();
    assert_eq!(
        a.title.as_deref(),
        Some("Floods kill 30 in Swat valley as rivers burst their banks")
    );
    assert!(a.body.starts_with("Flash floods killed 30 people"));
    assert!(a.body.ends_with("main highway to Kalam."));
    for bad in [
        "Share",
        "Ahmed Khan",
        "Getty",
        "Advertisement",
        "Markets fall",
        "Sara",
        "Bilal",
        "reporter",
        "©",
        "Home",
        "Published",
    ] {
        assert!(!a.body.contains(bad), "{bad} leaked");
    }
}

#[test]
fn bbc_and_dawn_style_pastes() {
    let bbc = "Pakistan floods: Thousands flee as Indus rises\nPublished 3 hours ago\nShare\nSave\n\
Image source, Getty Images\nImage caption, Families wait for boats near Sukkur\n\
Thousands of families have fled their homes in Sindh as the Indus river rose to its highest level in a decade, officials said on Tuesday.\n\
The provincial government said 120 relief camps had been set up along the river.\n\
Related Topics\nPakistan\nFloods\nMore on this story\nWhy Pakistan floods so often\n";
    let a = read_str("bbc.txt", bbc).unwrap();
    assert_eq!(
        a.title.as_deref(),
        Some("Pakistan floods: Thousands flee as Indus rises")
    );
    assert!(
        a.body.starts_with("Thousands of families have fled"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .ends_with("120 relief camps had been set up along the river."),
        "{}",
        a.body
    );
    let dawn =
        "Heatwave grips Karachi\nDawn.com\nPublished August 12, 2024\nFollow Dawn on WhatsApp\n\
Karachi recorded a maximum temperature of 41 degrees Celsius on Monday, the Met Office said.\n\
Comments (12)\nClosed\nReader A: Stay safe everyone.\n";
    let a = read_str("dawn.txt", dawn).unwrap();
    assert_eq!(a.body, "Karachi recorded a maximum temperature of 41 degrees Celsius on Monday, the Met Office said.");
}

#[test]
fn pasted_news_page_keeps_the_story_and_names_what_it_removed() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pages/doha-talks-pasted.txt"
    ))
    .unwrap();
    let a = read_str("doha.txt", &page).unwrap();
    assert_eq!(
        a.title.as_deref(),
        Some("Pakistan, Afghan Taliban to hold talks in Doha today")
    );
    assert!(
        a.body
            .starts_with("ISLAMABAD: Pakistan and the Afghan Taliban"),
        "{}",
        a.body
    );
    assert!(a.body.ends_with("since the clashes began."), "{}", a.body);
    for bad in [
        "journalist with 15 years",
        "Quaid-i-Azam",
        "Photo: APP",
        "Facebook",
        "Top Stories",
        "Rupee gains",
        "moderated",
        "Reader from Lahore",
        "All rights reserved",
        "Staff Reporter",
    ] {
        assert!(!a.body.contains(bad), "{bad} leaked into {}", a.body);
    }
    let reason = |needle: &str| {
        a.furniture_removed
            .iter()
            .find(|r| r.text.contains(needle))
            .map(|r| r.reason)
    };
    assert_eq!(reason("journalist with 15 years"), Some("author bio"));
    assert_eq!(reason("Photo: APP"), Some("photo caption or credit"));
    assert_eq!(
        reason("Facebook Twitter"),
        Some("share, sign-up or page prompt")
    );
    assert_eq!(reason("Rupee gains"), Some("after the story"));
    let kept: Vec<&str> = a.body.split("\n\n").collect();
    assert!(a
        .furniture_removed
        .iter()
        .all(|r| !kept.contains(&r.text.as_str())));
}

#[test]
fn a_page_of_links_is_no_article_unless_furniture_is_kept() {
    let menu = "Home\nWorld\nPakistan\nBusiness\nSport\nWeather\nLog in\nSubscribe\nContact us\nPrivacy policy\n";
    let e = read_str("menu.txt", menu).unwrap_err().to_string();
    assert!(e.starts_with("menu.txt: no article found"), "{e}");
    assert!(e.contains("--keep-furniture"), "{e}");
    let kept = from_bytes(
        "menu.txt",
        menu.as_bytes(),
        &ReadOptions {
            strip_furniture: false,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert!(kept.body.contains("Privacy policy"));
}

#[test]
fn pages_in_scripts_without_spaces_are_read_and_their_menus_are_not_articles() {
    // Chinese lines of 20-odd characters, one or two "words" each by
    // spaces and without a full stop: each is a clause of running text.
    let lines = [
        "一波波接續性低溫寒流報到 已將山後一帶層層山巒披上嫣紅的彩衣",
        "道路一路上雲氣山嵐滯留山頭 順路下切蜿蜒道路後不久即抵達國小",
        "營地美如其名偌大楓香樹早已呈現金黃 泛紅色彩也是人們喜愛之地",
        "第二次造訪發現到營區變了 印象中以前的招牌換成了原木招牌",
        "營區內除了露營、民宿、餐飲項目多了許多原木飾品更有加乘效果",
        "每年十二月向來是攝影班外拍的絕佳場所之一 楓紅期間人潮眾多",
    ];
    let body: String = lines.iter().map(|l| format!("<p>{l}</p>")).collect();
    let page = format!(
        "<html><head><title>營地賞楓</title></head><body><nav><a href=\"/\">首页</a> \
         <a href=\"/t\">科技</a> <a href=\"/f\">金融</a></nav><article><h1>營地賞楓</h1>{body}\
         </article></body></html>"
    );
    let a = read_str("page.html", &page).unwrap();
    for l in lines {
        assert!(a.body.contains(l), "{l} missing from {:?}", a.body);
    }
    assert!(!a.body.contains("金融"), "{:?}", a.body);
    let menu = "首页\n科技\n要闻\n金融\n视频\n数码\n太空\n探索\n登录\n";
    let e = read_str("menu.txt", menu).unwrap_err().to_string();
    assert!(e.starts_with("menu.txt: no article found"), "{e}");
}

#[test]
fn a_pasted_chinese_page_keeps_its_paragraphs_and_headline() {
    // Paragraphs without spaces that end in `。`: a few "words" each by
    // spaces, running text by their characters and full stops.
    let paragraphs = [
        "　　翱翔于距地球数千公里的太空中，进入广袤漆黑的未知领域，是一项艰苦卓绝的工作。这让人感到巨大压力。",
        "　　不幸的是，对于希望能喝上一杯的太空探险者，那些将他们送上太空的政府机构普遍禁止他们染指酒精饮料。",
        "　　事实是，历史上酒与太空探险有一种复杂的关系。让我们来看看喝了酒的航天员究竟会发生什么。",
        "　　人们普遍认为，当一个人所处的海拔越高，喝醉后会越容易感到头昏。但这种说法可能不是正确的。",
        "　　在这项研究中，十七名男子被要求在地面和一间模拟高海拔的房间内喝下一些伏特加，然后完成各种任务。",
    ];
    let page = format!(
        "首页\n时政\n国际\n科技\n教育\n首页 >> 科技频道 >> 探索者 >> 正文\n\
         宇航员在太空中喝酒会怎么样\n2017-03-10 09:58　来源：科学人\n\n{}\n\n\
         分享\n版权声明：转载须经版权人书面授权并注明来源\n关于我们 | 联系我们 | 法律声明\n",
        paragraphs.join("\n\n")
    );
    let a = read_str("page.txt", &page).unwrap();
    for p in paragraphs {
        assert!(
            a.body.contains(p.trim_start_matches('　')),
            "{p} missing from {:?}",
            a.body
        );
    }
    assert!(!a.body.contains("版权声明"), "{:?}", a.body);
    assert!(!a.body.contains("时政"), "{:?}", a.body);
    assert_eq!(a.title.as_deref(), Some("宇航员在太空中喝酒会怎么样"));
}

#[test]
fn html_metadata_is_read_with_the_article() {
    let page = r#"<!doctype html><html lang="en"><head>
<title>Floods hit Swat valley | The Daily Site</title>
<link rel="canonical" href="https://example.com/news/floods-swat">
<meta property="og:site_name" content="The Daily Site">
<meta property="article:published_time" content="2025-08-14T09:30:00+05:00">
<meta name="author" content="Sara Khan">
</head><body><nav><a href="/">Home</a></nav>
<article><h1>Floods hit Swat valley</h1>
<p>Flash floods killed 30 people in the Swat valley on Sunday, officials said, as rescue teams searched for the missing in several villages.</p>
<p>The provincial disaster authority said 2,600 homes were damaged and that roads to 14 villages were cut off by the water.</p>
<p>Rescue teams from the army joined the search on Monday morning, the authority said in a statement issued in Peshawar.</p>
</article><footer>Copyright 2025</footer></body></html>"#;
    let a = read_str("page.html", page).unwrap();
    assert_eq!(a.title.as_deref(), Some("Floods hit Swat valley"));
    assert!(a.body.starts_with("Flash floods killed 30 people"));
    assert_eq!(a.meta.site_name.as_deref(), Some("The Daily Site"));
    assert_eq!(
        a.meta.published.as_deref(),
        Some("2025-08-14T09:30:00+05:00")
    );
    assert_eq!(a.meta.byline.as_deref(), Some("Sara Khan"));
    assert_eq!(a.meta.lang.as_deref(), Some("en"));
    assert_eq!(
        a.meta.url.as_deref(),
        Some("https://example.com/news/floods-swat")
    );
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_lede_with_led_by_is_not_taken_for_a_headline_and_byline() {
    let text = "A delegation led by Defence Minister Khawaja Asif will hold talks with the Taliban in Doha today, officials in Islamabad said on Saturday morning.\n\nThe Foreign Office announced the visit in a statement issued late on Friday night. The talks are in Doha, where earlier rounds were held over the past year.\n";
    let a = read_str("doha.txt", text).unwrap();
    assert!(
        a.body.starts_with("A delegation led by Defence Minister"),
        "{a:?}"
    );
    assert!(a.furniture_removed.is_empty(), "{:?}", a.furniture_removed);
    assert_ne!(a.title.as_deref(), Some("A delegation led"));
}

#[test]
fn utf16_with_a_byte_order_mark_is_read_and_broken_utf16_is_refused() {
    let text = include_str!("../../examples/ntrex-shark-ur.txt");
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for bytes in [le.clone(), be] {
        let a = from_bytes("w.txt", &bytes, &ReadOptions::default()).unwrap();
        assert_eq!(a.lang, Lang::Ur);
        assert_eq!(
            a.sha256,
            from_bytes("w.txt", text.as_bytes(), &ReadOptions::default())
                .unwrap()
                .sha256
        );
    }
    let mut lone = le[..le.len() - 2].to_vec();
    lone.extend(0xD800u16.to_le_bytes());
    let e = from_bytes("w.txt", &lone, &ReadOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("UTF-16 but holds invalid data"),
        "{e}"
    );
    let e = from_bytes("w.txt", &le[..le.len() - 1], &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("convert it to UTF-8"), "{e}");
}

#[test]
fn links_numbers_or_symbols_alone_are_not_an_article() {
    let urls: String = (0..50)
        .map(|i| format!("https://example.com/news/{i}\n"))
        .collect();
    for (name, text) in [
        ("urls.txt", urls.as_str()),
        ("n.txt", "2024 1,200 3.5 15 300 42 7 8 9 10 11 12."),
        ("p.txt", "!!! ??? ... *** ### --- !!! ???"),
        ("h.txt", "@dawn_com @geonews x@y.com www.dawn.com"),
    ] {
        for strip_furniture in [true, false] {
            let opts = ReadOptions {
                strip_furniture,
                ..Default::default()
            };
            let e = from_bytes(name, text.as_bytes(), &opts)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(name)
                    && (e.contains("no running text") || e.contains("no article found")),
                "{name}: {e}"
            );
        }
    }
    let keep = ReadOptions {
        strip_furniture: false,
        ..Default::default()
    };
    from_bytes("ok.txt", b"Floods cut roads.", &keep).unwrap();
}

/// The Urdu and Pashto test pages (`tests/data/pages`, made by
/// `tools/make-rtl-pages.py`): NTREX stories in a news site's chrome, as
/// HTML and as pasted text.
fn rtl_page(name: &str) -> (std::path::PathBuf, String, Vec<String>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pages")
        .join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected-metadata.json")).unwrap())
            .unwrap();
    let expected = html_text(&std::fs::read_to_string(dir.join("expected.html")).unwrap());
    let paragraphs = expected.split("\n\n").map(str::to_string).collect();
    (dir, meta["title"].as_str().unwrap().to_string(), paragraphs)
}

#[test]
fn urdu_and_pashto_pages_are_read_without_their_chrome_in_both_modes() {
    for (name, lang, bio) in [
        ("ur-bbc.381680", Lang::Ur, "ایک صحافی ہیں"),
        ("ps-abcnews.306776", Lang::Ps, "خبریال دی"),
    ] {
        let (dir, title, paragraphs) = rtl_page(name);
        for file in ["pasted.txt", "source.html"] {
            let path = dir.join(file);
            let a = read(path.to_str().unwrap(), &ReadOptions::default()).unwrap();
            assert_eq!(a.lang, lang, "{name}/{file}");
            assert_eq!(a.title.as_deref(), Some(title.as_str()), "{name}/{file}");
            let kept: Vec<&str> = a.body.split("\n\n").collect();
            // The page's direction marks are not the story's text.
            let paragraphs: Vec<String> = paragraphs.iter().map(|p| normalize(p, lang)).collect();
            assert_eq!(
                kept, paragraphs,
                "{name}/{file}: the story, and nothing else"
            );
            assert!(
                !a.body.contains(bio),
                "{name}/{file}: the author's bio is not the story"
            );
            let reasons: Vec<&str> = a.furniture_removed.iter().map(|r| r.reason).collect();
            for reason in ["author bio", furniture::CAPTION] {
                assert!(reasons.contains(&reason), "{name}/{file}: {reasons:?}");
            }
        }
    }
}

#[test]
fn pashto_keeps_its_own_yeh_and_urdu_takes_farsi_yeh() {
    let a = read_str(
        "ps.txt",
        "هغه په کابل کې کور لري او هره ورځ کار کوي. دا خبره یې په دوشنبه وکړه.",
    )
    .unwrap();
    assert_eq!(a.lang, Lang::Ps);
    assert!(
        a.body.contains("لري") && a.body.contains("کوي"),
        "{}",
        a.body
    );
    let a = read_str(
        "ur.txt",
        "وزیر اعظم نے پیر کو كہا كہ حكومت نئے منصوبے شروع كرے گي۔",
    )
    .unwrap();
    assert!(
        a.body.contains("کہا") && a.body.contains("گی"),
        "{}",
        a.body
    );
}

#[test]
fn breadcrumbs_and_datelines_are_never_the_headline() {
    let story = "The provincial government announced on Monday that schools in Swat will reopen next week after the floods. Officials said repairs to 40 buildings were finished.\n\nTeachers in the valley welcomed the decision, but parents asked for safer roads before the children return. The education minister promised buses for the first month.\n\nThe floods damaged more than 200 schools across the province last month, officials said, and most have not reopened yet.\n";
    let page = format!("Home › Pakistan\nSara Khan — The Daily Voice, Islamabad Published 21 June 2024 09:19\n\n{story}");
    let a = read_str("page.txt", &page).unwrap();
    assert_ne!(a.title.as_deref(), Some("Home › Pakistan"));
    assert!(
        a.title.as_deref().is_none_or(|t| !t.contains("2024")),
        "{:?}",
        a.title
    );
    let page = format!("Home › Pakistan\nSchools in Swat to reopen after floods\nSara Khan — The Daily Voice, Islamabad Published 21 June 2024 09:19\n\n{story}");
    let a = read_str("page.txt", &page).unwrap();
    assert_eq!(
        a.title.as_deref(),
        Some("Schools in Swat to reopen after floods")
    );
}

#[test]
fn an_article_of_one_paragraph_is_read_without_doubt() {
    // Wire copy and JSON fields often hold a whole story on one line.
    let story = "The bishop of the Fargo Catholic Diocese in North Dakota has exposed \
        potentially hundreds of church members to the hepatitis A virus in late September \
        and early October. The state Health Department has issued an advisory of exposure \
        for anyone who attended five churches and took communion. Bishop John Folda is \
        taking time off after being diagnosed with hepatitis A. The diocese announced on \
        Monday that he contracted the infection through contaminated food while attending \
        a conference for newly ordained bishops in Italy last month. Symptoms of hepatitis \
        A include fever, tiredness, loss of appetite, nausea and abdominal discomfort.";
    let a = read_str("wire.txt", story).unwrap();
    assert_eq!(a.body, story);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_front_page_of_teasers_is_read_with_a_warning_not_refused() {
    // A section front: section names, then teasers (a headline, a sentence
    // of summary, a byline, a photo credit), no one story.
    let teasers = [
        ("Floods close the Karakoram Highway", "Landslides near Chilas cut the road for a third day, and the authorities say it may take a week to clear."),
        ("Wheat prices rise in Punjab markets", "Traders blame the late harvest and higher transport costs, while the provincial government promises to release its stocks."),
        ("Cricket board names a new selection panel", "The panel will pick the squad for the home series against New Zealand, which starts next month in Rawalpindi."),
        ("Teachers in Quetta end their strike", "The union called off the protest after the provincial government agreed to pay the salaries that were three months late."),
        ("Power cuts return to Karachi suburbs", "Residents of Korangi and Landhi reported outages of up to ten hours a day as demand rose with the heat."),
        ("A new bus line opens in Peshawar", "The route links the university with the old city and carries about twenty thousand passengers on its first day."),
    ];
    let mut page = String::from("Sections\nSearch\nHome\nPakistan\nWorld\nBusiness\nSport\n");
    for (i, (headline, dek)) in teasers.iter().enumerate() {
        page.push_str(&format!(
            "Photo\nCreditAsad Khan {i} for The Daily Times\n{headline}\n{dek}\nBy Reporter {i}\n"
        ));
    }
    page.push_str("More in Pakistan ›\nAbout us\nContact\nPrivacy policy\n");
    let a = read_str("front.txt", &page).unwrap();
    for (_, dek) in &teasers {
        assert!(a.body.contains(dek), "{dek} missing from {:?}", a.body);
    }
    assert!(!a.body.contains("Privacy policy"), "{}", a.body);
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("unsure this is the article")),
        "{:?}",
        a.warnings
    );
}
