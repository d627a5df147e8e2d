//! The HTML report in a real browser: headless Chromium loads `index.html` written by
//! `dbft-sim run`, logs no console message (the page has no script, so any message is a
//! failed load or a parse error), and a screenshot shows the plots.
//!
//! Without a `chromium` on PATH this test says so and passes, unless
//! `DBFT_SIM_REQUIRE_CHROMIUM=1` (set by `.ci/run`, which installs it).

mod common;

use common::{repo, tmpdir};
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Loads `page` headless, returns (console lines, screenshot RGB pixels, width, height).
fn load(browser: &Path, page: &Path, (w, h): (u32, u32)) -> (Vec<String>, Vec<u8>, u32, u32) {
    let profile = tmpdir("chromium-profile");
    let shot = profile.join("shot.png");
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<String> = log.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).expect("a screenshot")));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb: Vec<u8> = buf[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let _ = std::fs::remove_dir_all(&profile);
    (console, rgb, info.width, info.height)
}

/// Pixels that are clearly coloured (not white, grey or black): plot lines, points,
/// shaded windows, arrows. Text is black or grey and barely counts.
fn coloured(rgb: &[u8]) -> usize {
    rgb.chunks(3)
        .filter(|p| {
            let (mx, mn) = (p.iter().max().unwrap(), p.iter().min().unwrap());
            mx - mn > 40
        })
        .count()
}

#[test]
fn html_report_loads_cleanly_and_shows_its_plots() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("DBFT_SIM_REQUIRE_CHROMIUM").is_err(),
            "DBFT_SIM_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!(
            "SKIPPED html_report_loads_cleanly_and_shows_its_plots: no chromium on PATH (apt-get install chromium)"
        );
        return;
    };
    let dir = tmpdir("html");
    let out = Command::new(env!("CARGO_BIN_EXE_dbft-sim"))
        .args(["run", "scenarios/attacks/crash-lock-4.json", "--out", dir.to_str().unwrap(), "--quiet"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = dir.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Stalled at height 1 view 0 — commit-lock"), "the stall diagnosis is on the page");

    // The control: a page that logs to the console is caught, so silence means something.
    let control = dir.join("control.html");
    std::fs::write(&control, "<!DOCTYPE html><html><body><p>x</p><script>console.error('boom')</script></body></html>")
        .unwrap();
    let (console, _, _, _) = load(&browser, &control, (400, 300));
    assert!(console.iter().any(|l| l.contains("boom")), "console messages are seen: {console:?}");

    let size = (1400, 4200);
    let (console, rgb, w, h) = load(&browser, &page, size);
    assert!(console.is_empty(), "the report logged to the console: {console:?}");
    assert_eq!((w, h), size);
    // The same page without its figures: what the text alone colours.
    let mut bare = html.clone();
    while let (Some(a), Some(b)) = (bare.find("<svg"), bare.find("</svg>")) {
        bare.replace_range(a..b + "</svg>".len(), "");
    }
    let bare_page = dir.join("bare.html");
    std::fs::write(&bare_page, bare).unwrap();
    let (_, bare_rgb, _, _) = load(&browser, &bare_page, size);
    let (with, without) = (coloured(&rgb), coloured(&bare_rgb));
    assert!(with > 20_000, "the plots colour only {with} pixels");
    assert!(with > 5 * without.max(1), "plots {with} coloured pixels against {without} for the text alone");
    // Each figure region is non-blank: split the screenshot into horizontal bands at the
    // height of a figure and count bands with colour; the page shows at least three
    // figures (heights, timeline, sequence chart).
    let band = 400usize;
    let bands = rgb.chunks(3 * w as usize * band).filter(|b| coloured(b) > 2_000).count();
    assert!(bands >= 3, "only {bands} bands of {band} px hold coloured plot content");
}
