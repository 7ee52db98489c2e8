//! The HTML report in headless Chromium: the overview's figures, the charts' marks, the
//! index's search and filters, lineage sections collapsed, diffs rendered only when opened,
//! hostile text inert, screenshots at several window sizes; on a real recorded repository
//! and on a generated log shaped like a real project's (~450 prompts, ~1,600 versions,
//! every prompt moved from `patterns/` to `data/patterns/`).

mod common;

use std::collections::BTreeMap;

use common::browser::{self, has_class, index_rows, text_of};
use common::*;
use promptrail::report::export::{DeployRow, ExportModel, LiveSpan, PromptTimeline, VersionRow};
use promptrail::report::html;

fn visible(rows: &[&str]) -> usize {
    rows.iter()
        .filter(|r| !has_class(r, "hidden") && !has_class(r, "paged"))
        .count()
}

fn time(day: i64) -> String {
    (chrono::DateTime::parse_from_rfc3339("2023-01-01T09:00:00Z").unwrap()
        + chrono::Duration::hours(day * 13))
    .to_utc()
    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A log shaped like the real project's: 450 prompts, each moved from `patterns/` to
/// `data/patterns/` on one day, 1,600 versions over about two years (one in seven not
/// approved), deployments to production (30 prompts) and staging (120 prompts).
fn project_model() -> ExportModel {
    let mut prompts = BTreeMap::new();
    let mut n = 0i64;
    let move_day = 700;
    for p in 0..450u32 {
        let old = format!("patterns/p{p:03}/system.md");
        let new = format!("data/patterns/p{p:03}/system.md");
        let mut t = PromptTimeline::default();
        let count = if p < 250 { 4 } else { 3 };
        for v in 1..=count {
            n += 1;
            let day = (n * 1300 / 1600).min(1299) + i64::from(v);
            let path = if day < move_day { &old } else { &new };
            t.note_name(path);
            t.versions.push(VersionRow {
                path: path.clone(),
                version: v,
                change: if v == 1 { "added" } else { "modified" }.into(),
                entry: n as u64,
                landed_at: time(day),
                commit: format!("{:040x}", n),
                authors: vec![format!("Author {}", p % 17)],
                approvers: vec!["@reviewer".into()],
                approved: n % 7 != 0,
                diff: Some(format!(
                    "--- a/{path}\n+++ b/{path}\n-line {v}\n+line {}\n",
                    v + 1
                )),
            });
        }
        t.note_name(&new);
        prompts.insert(new, t);
    }
    let mut live: BTreeMap<String, Vec<LiveSpan>> = BTreeMap::new();
    for (env, count, rounds) in [("production", 30usize, 3u32), ("staging", 120, 2)] {
        let spans = live.entry(env.to_owned()).or_default();
        for round in 0..rounds {
            for (key, t) in prompts.iter_mut().take(count) {
                let v = &t.versions[round as usize];
                let at = time(1000 + i64::from(round) * 100 + i64::from(v.version));
                if let Some(open) = spans.iter_mut().rev().find(|s| &s.path == key) {
                    open.until = Some(at.clone());
                }
                spans.push(LiveSpan {
                    path: key.clone(),
                    version: v.version,
                    from: at.clone(),
                    until: None,
                    entry: 5000,
                });
                t.deployments.push(DeployRow {
                    path: key.clone(),
                    environment: env.to_owned(),
                    event: "deployment".into(),
                    version: v.version,
                    entry: 5000,
                    at,
                    actor: "deploy-bot".into(),
                    replaces: None,
                });
            }
        }
    }
    ExportModel {
        generated_at: time(1400),
        branch: "promptrail/audit".into(),
        origin: Some("github.com/acme/patterns".into()),
        verification: None,
        trusted_keys: vec![],
        checkpoint: Some("github.com/acme/patterns\n1731\nq0hash=\n\n— key sig\n".into()),
        entries: vec![],
        prompts,
        live,
    }
}

#[test]
fn a_project_sized_log_has_an_overview_charts_a_searchable_index_and_lineages() {
    let m = project_model();
    let versions: usize = m.prompts.values().map(|t| t.versions.len()).sum();
    let approved: usize = m
        .prompts
        .values()
        .flat_map(|t| &t.versions)
        .filter(|v| v.approved)
        .count();
    assert_eq!(versions, 1600);
    let page = html::html(&m);
    // One file, nothing fetched: no external references, a strict CSP.
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains(" src="));
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(page.len() < 3_000_000, "{} bytes", page.len());
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();

    let Some(b) = browser::chromium() else { return };
    let dom = b.dom(&file, "");
    let first = dom.clone();
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script ran under the CSP"
    );
    assert_eq!(text_of(&dom, "fig-prompts"), "450");
    assert_eq!(text_of(&dom, "fig-versions"), "1600");
    assert_eq!(
        text_of(&dom, "fig-approved"),
        format!("{}% ({approved} of 1600)", (approved * 100 + 800) / 1600)
    );
    assert_eq!(
        text_of(&dom, "fig-unapproved"),
        (1600 - approved).to_string()
    );
    assert_eq!(text_of(&dom, "fig-deploy-production"), "90 (30 live)");
    // The overview links the first unapproved versions to their rows.
    let links = dom.matches("<li><a href=\"#p").count();
    assert_eq!(links, html::UNAPPROVED_LISTED);

    // One lineage per prompt across the move, all collapsed; the old path is named in it.
    assert_eq!(dom.matches("<details class=\"lineage\"").count(), 450);
    assert!(!dom.contains("<details class=\"lineage\" id=\"p0\" open"));
    assert!(dom.contains("formerly <code>patterns/p000/system.md</code>"));
    assert!(
        !dom.contains("Timeline of <code>patterns/"),
        "no second timeline per old path"
    );

    // Charts: production draws every span (30 prompts × 3), staging its 40 busiest prompts.
    let svg = |marker: &str| {
        let at = dom.find(marker).unwrap_or_else(|| panic!("no {marker}"));
        let s = &dom[at..];
        s[..s.find("</svg>").unwrap()].to_owned()
    };
    assert_eq!(
        svg("data-env=\"production\"")
            .matches("<rect class=\"live")
            .count(),
        90
    );
    assert_eq!(
        svg("data-env=\"staging\"")
            .matches("<rect class=\"live")
            .count(),
        html::TIMELINE_ROWS * 2
    );
    assert!(dom.contains(&format!(
        "The {} prompts deployed most often to staging of 120",
        html::TIMELINE_ROWS
    )));
    let months = svg("id=\"per-month\"")
        .matches("<rect class=\"bar\"")
        .count();
    assert!(
        (23..=25).contains(&months),
        "about two years of months: {months}"
    );
    assert_eq!(svg("id=\"coverage\"").matches("<rect").count(), 2);

    // The index: every prompt, one page at a time.
    let rows = index_rows(&dom);
    assert_eq!(rows.len(), 450);
    assert_eq!(visible(&rows), html::INDEX_PAGE);
    assert_eq!(
        text_of(&dom, "index-count"),
        "450 of 450 prompts · page 1 of 5"
    );

    // Search matches former paths too; filters narrow it.
    let dom = b.dom(&file, "?q=PATTERNS/p017/");
    assert_eq!(visible(&index_rows(&dom)), 1);
    assert!(
        index_rows(&dom)
            .iter()
            .any(|r| !has_class(r, "hidden") && r.contains("p017"))
    );
    let with_unapproved = m
        .prompts
        .values()
        .filter(|t| t.versions.iter().any(|v| !v.approved))
        .count();
    let dom = b.dom(&file, "?only=unapproved");
    let rows = index_rows(&dom);
    assert_eq!(
        rows.iter().filter(|r| !has_class(r, "hidden")).count(),
        with_unapproved
    );
    // Diffs are inert until opened (none rendered in the first page above); opening one
    // renders it, and only it.
    assert!(!first.contains("data-rendered=\"1\""));
    let dom = b.dom(&file, "?env=production&open=d3-1");
    assert_eq!(visible(&index_rows(&dom)), 30);
    assert_eq!(text_of(&dom, "index-count"), "30 of 450 prompts");
    assert_eq!(dom.matches("data-rendered=\"1\"").count(), 1);
    let at = dom.find("data-diff=\"d3-1\"").unwrap();
    let opened = &dom[at..at + 400];
    assert!(
        opened.contains("open") && opened.contains("<pre class=\"diff-text\">"),
        "{opened}"
    );
    assert!(dom.contains("<details class=\"lineage\" id=\"p3\" open"));

    // Screenshots at a phone's, a laptop's and a wide screen's size: real pictures.
    for (w, h) in [(390, 844), (1280, 800), (1920, 1080)] {
        let img = b.screenshot(&file, w, h);
        assert_eq!((img.width, img.height), (w, h));
        assert!(img.ink() > 0.02, "{w}x{h}: {} of pixels inked", img.ink());
        assert!(img.colours(64) >= 16, "{w}x{h}: text and charts in colour");
    }
}

#[test]
fn hostile_text_in_paths_names_and_environments_stays_text() {
    let mut m = project_model();
    let evil = "patterns/</style><script>document.title='pwned'</script>\"onmouseover=\"document.title='pwned'\".md";
    let mut t = PromptTimeline::default();
    t.note_name(evil);
    t.versions.push(VersionRow {
        path: evil.into(),
        version: 1,
        change: "added".into(),
        entry: 1,
        landed_at: time(3),
        commit: "<img src=x onerror=document.title='pwned'>".into(),
        authors: vec!["<img src=x onerror=\"document.title='pwned'\">".into()],
        approvers: vec![],
        approved: false,
        diff: Some("+</template><script>document.title='pwned'</script>\n".into()),
    });
    m.prompts.insert(evil.into(), t);
    m.live.insert(
        "prod\"><script>document.title='pwned'</script>".into(),
        vec![LiveSpan {
            path: evil.into(),
            version: 1,
            from: time(4),
            until: None,
            entry: 2,
        }],
    );
    m.checkpoint = Some("</pre><script>document.title='pwned'</script>\n".into());
    m.origin = Some("</title><script>document.title='pwned'</script>".into());
    let page = html::html(&m);
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the report's own script"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();

    let Some(b) = browser::chromium() else { return };
    // Opening the hostile prompt's diff renders it as text, not markup.
    let idx = m.prompts.keys().position(|k| k == evil).unwrap();
    let dom = b.dom(&file, &format!("?open=d{idx}-0"));
    assert!(dom.contains("data-ready=\"1\""));
    assert!(!dom.contains("pwned</title>") && !dom.contains("<title>pwned"));
    assert!(dom.contains("<title>Prompt audit report: &lt;/title&gt;&lt;script&gt;"));
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "no injected script element"
    );
    assert!(!dom.contains("<img"), "no injected image");
    assert!(!dom.contains(" onmouseover="), "no injected attribute");
    assert!(
        dom.contains("&lt;/template&gt;&lt;script&gt;"),
        "the diff line is text"
    );
    // The search still finds it by its text.
    let dom = b.dom(&file, "?q=%3Cscript%3E");
    assert_eq!(visible(&index_rows(&dom)), 1);
}

#[test]
fn a_recorded_repository_reports_one_lineage_across_a_rename_with_verified_keys() {
    let r = recorded_repo();
    let page = r.dir.path().join("report.html");
    let out = r.run(&[
        "export",
        "--format",
        "html",
        "--key",
        keys().public.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&r.run(&[
        "export",
        "--format",
        "json",
        "--key",
        keys().public.to_str().unwrap(),
    ])))
    .unwrap();
    let Some(b) = browser::chromium() else { return };
    let dom = b.dom(&page, "");
    assert!(dom.contains("id=\"verification\" class=\"ok\">verified</span>"));
    let key_id = json["verification"]["signedBy"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(dom.contains(&format!("entries signed by key <code>{key_id}</code>")));
    assert_eq!(
        text_of(&dom, "fig-prompts"),
        json["prompts"].as_object().unwrap().len().to_string()
    );
    // greet.md became welcome.md: one section, under the new name, naming the old one.
    assert!(dom.contains("<code>prompts/welcome.md</code> · "));
    assert!(dom.contains("formerly <code>prompts/greet.md</code>"));
    assert_eq!(dom.matches("<details class=\"lineage\"").count(), 2);
    // Offline records are not approved: the overview links them.
    assert!(dom.contains("<h2>Unapproved versions</h2>"));
}
