//! Headless Chromium (Debian's) for the HTML report: the DOM after the page's script ran,
//! screenshots, and a small PNG decoder to tell a rendered page from a blank one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The installed Chromium, or `None` (then the caller skips, unless
/// `PROMPTRAIL_REQUIRE_BROWSER` is set, which makes a missing browser a failure).
pub fn chromium() -> Option<Browser> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    match found {
        Some(p) => Some(Browser {
            bin: PathBuf::from(p),
            profile: tempfile::TempDir::new().unwrap(),
        }),
        None => {
            assert!(
                std::env::var_os("PROMPTRAIL_REQUIRE_BROWSER").is_none(),
                "PROMPTRAIL_REQUIRE_BROWSER is set but Chromium is not installed"
            );
            eprintln!("Chromium not installed: the page was checked as text only");
            None
        }
    }
}

pub struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    fn run(&self, url: &str, extra: &[String]) -> std::process::Output {
        let out = std::process::Command::new(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The serialised DOM of `page` (with `query`, e.g. `?q=x`) after its scripts ran.
    pub fn dom(&self, page: &Path, query: &str) -> String {
        let url = format!("file://{}{query}", page.display());
        String::from_utf8_lossy(&self.run(&url, &["--dump-dom".to_owned()]).stdout).into_owned()
    }

    /// A screenshot of `page` at `width`×`height`, decoded.
    pub fn screenshot(&self, page: &Path, width: u32, height: u32) -> Image {
        let shot = self
            .profile
            .path()
            .join(format!("shot-{width}x{height}.png"));
        let url = format!("file://{}", page.display());
        self.run(
            &url,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={width},{height}"),
            ],
        );
        // For a look by eye: PROMPTRAIL_KEEP_SCREENSHOTS=DIR keeps a copy of each.
        if let Some(keep) = std::env::var_os("PROMPTRAIL_KEEP_SCREENSHOTS") {
            let name = page.file_stem().unwrap_or_default().to_string_lossy();
            let _ = std::fs::copy(
                &shot,
                Path::new(&keep).join(format!("{name}-{width}x{height}.png")),
            );
            let _ = std::fs::copy(page, Path::new(&keep).join(format!("{name}.html")));
        }
        decode_png(&std::fs::read(&shot).unwrap())
    }
}

/// An 8-bit RGB or RGBA image.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Image {
    /// The share of pixels that differ from the top-left one (the page background).
    pub fn ink(&self) -> f64 {
        let bg = &self.pixels[..self.channels];
        let n = self.pixels.len() / self.channels;
        let differ = self
            .pixels
            .chunks(self.channels)
            .filter(|p| p[..3] != bg[..3])
            .count();
        differ as f64 / n as f64
    }

    /// How many distinct colours the image has (capped at `cap`).
    pub fn colours(&self, cap: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.pixels.chunks(self.channels) {
            seen.insert([p[0], p[1], p[2]]);
            if seen.len() >= cap {
                break;
            }
        }
        seen.len()
    }
}

/// Decodes the PNGs Chromium writes (8-bit RGB/RGBA, not interlaced).
pub fn decode_png(png: &[u8]) -> Image {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (mut at, mut idat) = (8, Vec::new());
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!(data[8], 8, "8-bit");
                assert_eq!(data[12], 0, "not interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width as usize * channels;
    assert_eq!(raw.len(), (stride + 1) * height as usize);
    let mut pixels = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predict = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predict);
        }
    }
    Image {
        width,
        height,
        channels,
        pixels,
    }
}

/// The opening tags of the prompt index's rows, in order.
pub fn index_rows(dom: &str) -> Vec<&str> {
    let Some(start) = dom.find("<table id=\"index\"") else {
        return Vec::new();
    };
    let body = &dom[start..];
    let body = &body[..body.find("</table>").unwrap_or(body.len())];
    body.match_indices("<tr ")
        .map(|(i, _)| {
            let tag = &body[i..];
            &tag[..tag.find('>').unwrap() + 1]
        })
        .collect()
}

/// Whether an opening tag has `class` among its classes.
pub fn has_class(tag: &str, class: &str) -> bool {
    tag.split("class=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .is_some_and(|c| c.split_whitespace().any(|c| c == class))
}

/// The text of the element with `id` (up to the next tag).
pub fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let s = &dom[at..];
    let s = &s[s.find('>').unwrap() + 1..];
    &s[..s.find('<').unwrap_or(s.len())]
}
