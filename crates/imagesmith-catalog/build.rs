//! Rebuild when catalog data changes: include_dir does not see added files by itself.
fn main() {
    println!("cargo:rerun-if-changed=catalog");
}
