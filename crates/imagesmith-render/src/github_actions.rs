//! GitHub Actions workflows.
use crate::common::Input;
use crate::Rendered;

pub(crate) fn render(_input: &Input<'_>, _rendered: &mut Rendered) {}
