//! `promptrail export`: JSON, CSV, Markdown and a self-contained HTML page, the page rendered
//! in a real headless browser (Debian's Chromium) and read back.

mod common;

use common::*;
use std::path::Path;

fn export(r: &Repo, format: &str) -> String {
    let out = r.run(&[
        "export",
        "--format",
        format,
        "--key",
        keys().public.to_str().unwrap(),
    ]);
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn reports_in_every_format() {
    let r = recorded_repo();
    let json: serde_json::Value = serde_json::from_str(&export(&r, "json")).unwrap();
    assert_eq!(json["verification"]["ok"], true);
    assert_eq!(json["entries"].as_array().unwrap().len(), 4);
    let intake = &json["prompts"]["prompts/clinical/intake.md"]["versions"];
    assert_eq!(intake.as_array().unwrap().len(), 2);
    assert!(
        intake[1]["diff"]
            .as_str()
            .unwrap()
            .contains("+You are a careful clinical intake assistant.")
    );

    let csv = export(&r, "csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "a header and one row per event: {csv}");
    assert!(lines[0].starts_with("entry,recorded_at,event,prompt,version"));
    assert!(
        lines[4].contains(",prompts/clinical/intake.md,2,modified,"),
        "{csv}"
    );
    assert!(lines[4].contains("Ana Author; Bob Builder"), "{csv}");

    let md = export(&r, "md");
    assert!(md.contains("Verification: **verified**"), "{md}");
    assert!(md.contains("| v2 | modified |"), "{md}");
    assert!(
        md.contains("**not approved**"),
        "offline records are not approved: {md}"
    );

    // Without a key the report says so rather than claiming anything.
    let out = r.run(&["export", "--format", "md"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("not verified (no trusted key given)"));
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn html_report_renders_in_a_headless_browser() {
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
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no scripts, no external resources.
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("http://") && !html.contains("src="),
        "no external resources"
    );
    assert!(html.contains("<style>"));

    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("PROMPTRAIL_REQUIRE_BROWSER").is_none(),
            "PROMPTRAIL_REQUIRE_BROWSER is set but Chromium is not installed"
        );
        eprintln!("Chromium not installed: the page was checked as text only");
        return;
    };
    let profile = tempfile::TempDir::new().unwrap();
    let shot = r.dir.path().join("report.png");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ];
    let url = format!("file://{}", page.display());
    let run = |extra: &[String]| {
        std::process::Command::new(browser)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let dom = run(&["--dump-dom".to_owned()]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("Timeline of <code>prompts/clinical/intake.md</code>"),
        "{dom}"
    );
    assert!(
        dom.contains("id=\"verification\" class=\"ok\">verified</span>"),
        "{dom}"
    );
    assert!(dom.contains("diff of v2"), "{dom}");
    assert!(dom.contains("Bob Builder"), "{dom}");
    let out = run(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1200,1600".to_owned(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a rendered page"
    );
}
