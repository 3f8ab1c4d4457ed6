//! Writes an OCI layout of random, incompressible layers, for `bench/push.sh`:
//! `random_layout DIR LAYERS MIB_PER_LAYER`. The layers are gzip-compressed (random bytes
//! stay their size), as built images are: `skopeo copy` to a registry compresses a plain
//! tar layer, which would time gzip rather than the push.

use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::{
    write_layer, write_layout, BlobStore, Compression, HistoryEntry, ImageBuilder, LayerOptions,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, layers, mib] = args.as_slice() else {
        return Err("usage: random_layout DIR LAYERS MIB_PER_LAYER".into());
    };
    let dir = std::path::Path::new(dir);
    let (layers, mib): (usize, usize) = (layers.parse()?, mib.parse()?);
    let scratch = dir.with_extension("scratch");
    let store = BlobStore::open(scratch.join("store"))?;
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, 0);
    // xorshift64*: incompressible bytes without a dependency
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for index in 0..layers {
        let root = scratch.join(format!("layer{index}"));
        std::fs::create_dir_all(&root)?;
        let mut bytes = vec![0u8; mib << 20];
        for chunk in bytes.chunks_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let value = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
        std::fs::write(root.join(format!("data{index}.bin")), bytes)?;
        let mut options = LayerOptions::new(0);
        options.compression = Compression::Gzip;
        let layer = write_layer(&store, &root, &options)?;
        builder.add_layer(
            &layer,
            HistoryEntry {
                created_by: format!("random layer {index}"),
                comment: None,
            },
        );
    }
    let image = builder.build(&store)?;
    write_layout(dir, &store, &[("latest", &image)])?;
    std::fs::remove_dir_all(&scratch)?;
    println!("{}", image.digest());
    Ok(())
}
