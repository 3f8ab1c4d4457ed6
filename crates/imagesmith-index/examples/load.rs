//! Prints how long parsing the whole built-in version index takes (what every `validate`
//! pays once per process): `cargo run --release -p imagesmith-index --example load`.

use std::time::Instant;

fn main() {
    let rounds = 50;
    let mut best = f64::MAX;
    let mut total = 0.0;
    let mut releases = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let files = imagesmith_index::builtin_files();
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        releases = files
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .map(|c| c.releases.len())
            .sum::<usize>();
        best = best.min(elapsed);
        total += elapsed;
    }
    let bytes: usize = imagesmith_catalog::embedded_files(imagesmith_index::INDEX_DIR)
        .iter()
        .map(|f| f.text.len())
        .sum();
    println!(
        "index load: {} components, {releases} releases, {:.1} KiB: best {best:.2} ms, mean {:.2} ms over {rounds} rounds (target < 20 ms)",
        imagesmith_index::builtin_files().len(),
        bytes as f64 / 1024.0,
        total / rounds as f64
    );
}
