//! A vendor that publishes no open list: nothing is fetched; `update` keeps the index's
//! releases as they are.

use crate::http::Http;
use crate::{Context, SourceError, VersionSource};
use imagesmith_index::Release;

pub(crate) struct Vendor<'a> {
    pub description: &'a str,
}

impl VersionSource for Vendor<'_> {
    fn releases(&self, _http: &Http, ctx: &Context<'_>) -> Result<Vec<Release>, SourceError> {
        (ctx.progress)(&format!(
            "vendor source, nothing to fetch ({}); the index's releases are kept",
            self.description
        ));
        Ok(Vec::new())
    }
}
