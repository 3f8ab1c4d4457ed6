//! Progress: a live display per image on a terminal, plain lines otherwise

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Receives what the build is doing
pub trait Progress: Send + Sync {
    /// Something happened in `image` (`chrony: build: InstallChrony`)
    fn update(&self, image: &str, message: &str);
    /// The image is finished (successfully or not) with a one-line summary
    fn finish(&self, image: &str, ok: bool, summary: &str);
}

/// Picks the display: live when stderr is a terminal and neither `NO_COLOR` nor `CI` is
/// set, plain lines otherwise
pub fn auto() -> Box<dyn Progress> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if std::io::stderr().is_terminal() && !set("NO_COLOR") && !set("CI") {
        Box::new(Live::new())
    } else {
        Box::new(Plain)
    }
}

/// One line per event on stderr
#[derive(Debug, Default)]
pub struct Plain;

impl Progress for Plain {
    fn update(&self, image: &str, message: &str) {
        eprintln!("[{image}] {message}");
    }

    fn finish(&self, image: &str, ok: bool, summary: &str) {
        eprintln!(
            "[{image}] {} {summary}",
            if ok { "done:" } else { "failed:" }
        );
    }
}

/// Nothing at all
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn update(&self, _image: &str, _message: &str) {}
    fn finish(&self, _image: &str, _ok: bool, _summary: &str) {}
}

/// A spinner per image (indicatif)
pub struct Live {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// A live display on stderr
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, image: &str) -> Option<ProgressBar> {
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(image.to_owned())
                .or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    if let Ok(style) = ProgressStyle::with_template(
                        "{spinner} {prefix:.bold} [{elapsed}] {wide_msg}",
                    ) {
                        bar.set_style(style);
                    }
                    bar.set_prefix(image.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }
}

impl Progress for Live {
    fn update(&self, image: &str, message: &str) {
        if let Some(bar) = self.bar(image) {
            bar.set_message(message.to_owned());
        }
    }

    fn finish(&self, image: &str, ok: bool, summary: &str) {
        if let Some(bar) = self.bar(image) {
            if let Ok(style) = ProgressStyle::with_template("{prefix:.bold} {wide_msg}") {
                bar.set_style(style);
            }
            bar.finish_with_message(format!(
                "{} {summary}",
                if ok { "done:" } else { "failed:" }
            ));
        }
    }
}
