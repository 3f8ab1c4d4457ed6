//! Merging what a source lists now into the index.

use crate::{fetch, Context, Http, SourceError};
use imagesmith_index::{ComponentIndex, Release};
use std::collections::BTreeMap;

/// Fetches `index.source` and merges it into a copy of `index`:
///
/// - a fetched release replaces the index's release of that version, keeping the date, build
///   and revocation the index has where the source gives none;
/// - a release the source no longer lists is kept (vendors delete old releases; the index
///   remembers them);
/// - a sha256 the index has is kept where the source gives none for the same URL, and where the
///   source gives one it must be the same: a changed checksum is [`SourceError::ChecksumChanged`].
///
/// `updated` becomes [`Context::today`].
pub fn update(
    index: &ComponentIndex,
    http: &Http,
    ctx: &Context<'_>,
) -> Result<ComponentIndex, SourceError> {
    (ctx.progress)(&format!(
        "{}: reading the {} source",
        index.component,
        index.source.kind()
    ));
    let fetched = fetch(&index.source, http, ctx)?;
    let mut merged = merge(index, fetched)?;
    merged.updated = ctx.today.clone();
    // A source read whole lists every release; a vendor source reads nothing.
    if !matches!(index.source, imagesmith_index::Source::Vendor { .. }) {
        merged.partial = false;
    }
    Ok(merged)
}

/// `index` with `fetched` merged in (see [`update`]).
pub(crate) fn merge(
    index: &ComponentIndex,
    fetched: Vec<Release>,
) -> Result<ComponentIndex, SourceError> {
    let mut known: BTreeMap<&str, &Release> = index
        .releases
        .iter()
        .map(|r| (r.version.as_str(), r))
        .collect();
    let mut out = index.clone();
    out.releases.clear();
    for mut release in fetched {
        if let Some(old) = known.remove(release.version.as_str()) {
            for (key, artifact) in release.artifacts.iter_mut() {
                let Some(old_artifact) = old.artifacts.get(key).filter(|a| a.url == artifact.url)
                else {
                    continue;
                };
                match (&old_artifact.sha256, &artifact.sha256) {
                    (Some(known), Some(fetched)) if !known.eq_ignore_ascii_case(fetched) => {
                        return Err(SourceError::ChecksumChanged(Box::new(
                            crate::ChecksumChange {
                                component: index.component.clone(),
                                version: release.version.clone(),
                                key: key.clone(),
                                url: artifact.url.clone(),
                                known: known.clone(),
                                fetched: fetched.clone(),
                            },
                        )));
                    }
                    (Some(known), None) => artifact.sha256 = Some(known.clone()),
                    _ => {}
                }
            }
            // Artifacts the index knew and the source does not give (a URL recorded by hand,
            // another OS) stay.
            for (key, artifact) in &old.artifacts {
                release
                    .artifacts
                    .entry(key.clone())
                    .or_insert_with(|| artifact.clone());
            }
            if release.date.is_none() {
                release.date = old.date.clone();
            }
            if release.build.is_none() {
                release.build = old.build.clone();
            }
            if release.revoked.is_none() {
                release.revoked = old.revoked.clone();
            }
            // A source that still lists a withdrawn release (git tags outlive deleted GitHub
            // releases) does not bring its downloads back.
            if release.withdrawn.is_none() {
                release.withdrawn = old.withdrawn.clone();
            }
        }
        out.releases.push(release);
    }
    out.releases.extend(known.into_values().cloned());
    out.normalize();
    Ok(out)
}
