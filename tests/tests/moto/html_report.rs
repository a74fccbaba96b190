//! The HTML reports in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `make setup`) opens the file the CLI wrote from a moto registry, offline; the test reads the
//! rendered DOM for the numbers it expects and checks the screenshot is not blank.

use ecr_keeper_tests::browser::{assert_readable_everywhere, browse};
use ecr_keeper_tests::seed::{create_repository, push_as, push_unique, OCI_MANIFEST};
use ecr_keeper_tests::{repo_root, LocalAws};
use std::path::Path;
use std::process::Command;

const HOSTILE_TAG: &str = "<script>alert(1)</script>";

/// (distinct colours, share of pixels that are not white) of a PNG.
fn picture(path: &Path) -> (usize, f64) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap_or_else(|e| panic!("{e}"));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let distinct: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let inked = pixels.iter().filter(|p| p.iter().take(3).any(|c| *c < 240)).count();
    (distinct.len(), inked as f64 / pixels.len().max(1) as f64)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_and_cost_pages_render_offline_in_chromium_with_the_numbers_and_no_script() {
    ecr_keeper_tests::build_cli();
    // GIVEN a registry of three repositories, one image tagged with markup
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    for name in ["api", "web", "worker"] {
        create_repository(&ecr, name, false).await;
        push_unique(&ecr, name, Some("v1"), &format!("{name}-1")).await;
    }
    let manifest = ecr_keeper_tests::seed::oci_manifest("hostile-config", &[("hostile-layer", 5_000_000)]);
    push_as(&ecr, "web", Some(HOSTILE_TAG), &manifest, OCI_MANIFEST, None).await;
    let dir = std::env::temp_dir().join(format!("ecr-keeper-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // WHEN the CLI writes both reports
    for (command, sub) in [("audit", "audit"), ("cost-report", "cost")] {
        let out = Command::new(repo_root().join("target/debug/ecr-keeper"))
            .args([command, "--output", "json", "--output-dir"])
            .arg(dir.join(sub))
            .envs(aws.process_env())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.join(sub).join("report.html").exists(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // THEN Chromium renders the audit page with the registry's numbers, the tag as text
    let audit_page = dir.join("audit/report.html");
    let dom = browse(&audit_page, &["--dump-dom".to_string()]);
    assert!(dom.contains("<h1>ECR lifecycle audit</h1>"), "{dom}");
    assert!(dom.contains(r#"<div class="value">3</div><div class="label">Repositories</div>"#), "{dom}");
    for name in ["api", "web", "worker"] {
        assert!(dom.contains(&format!(r#"<tr data-repository="{name}"><td>{name}</td>"#)), "{name} row");
    }
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the tag shows as text");
    assert!(!dom.contains("<script"), "no script element in the rendered page");
    assert!(dom.contains("<svg"), "the chart is inline SVG");
    // AND the registry's own checks have their section, before the repositories'
    let registry = dom.find(r#"<table id="registry-checks">"#).unwrap_or_else(|| panic!("no registry checks: {dom}"));
    assert!(registry < dom.find(r#"<table id="checks">"#).unwrap_or(0));
    assert!(dom.contains(r#"<tr data-check="REG-1">"#), "{dom}");
    // AND it opens with what to fix first: three repositories without a lifecycle policy
    let fix = dom.find(r#"<ol id="fix-first">"#).unwrap_or_else(|| panic!("no fix-first list: {dom}"));
    assert!(fix < dom.find("Checks by status").unwrap_or(0), "the list comes first");
    assert!(dom[fix..].contains("3 repositories have no lifecycle policy"), "{}", &dom[fix..]);
    // AND the cost page lists the repositories by cost
    let cost_dom = browse(&dir.join("cost/report.html"), &["--dump-dom".to_string()]);
    assert!(cost_dom.contains("<h1>ECR storage cost</h1>") && cost_dom.contains("<svg"), "{cost_dom}");
    let web = cost_dom.find(r#"<tr data-repository="web">"#);
    let api = cost_dom.find(r#"<tr data-repository="api">"#);
    assert!(web.is_some() && api.is_some() && web < api, "web (two images) costs most and comes first");
    // AND a screenshot of the audit page is a picture, not a blank page
    let shot = dir.join("audit.png");
    browse(&audit_page, &[format!("--screenshot={}", shot.display()), "--window-size=1280,1600".to_string()]);
    let (colours, inked) = picture(&shot);
    assert!(colours > 20 && inked > 0.02, "blank-looking screenshot: {colours} colours, {inked:.3} inked");
    // AND both pages read at a desktop's and a phone's width: axe-core finds nothing serious, and
    // nothing scrolls sideways at 390 px
    assert_readable_everywhere(&audit_page);
    assert_readable_everywhere(&dir.join("cost/report.html"));
    let _ = std::fs::remove_dir_all(&dir);
}
