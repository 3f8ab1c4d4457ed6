//! Image configuration and manifest: building a new image on a base, layer by layer

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, Digest, History, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use serde::Serialize;

use crate::error::{OciError, Result};
use crate::layer::Layer;
use crate::store::BlobStore;

/// The annotation naming an image in an image layout's `index.json`
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// An image whose manifest and config blobs are in a [`BlobStore`]
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The descriptor of the manifest blob (its digest is the image digest)
    pub descriptor: Descriptor,
    /// The manifest
    pub manifest: ImageManifest,
    /// The image configuration
    pub config: ImageConfiguration,
}

impl Image {
    /// The manifest digest, which identifies the image
    pub fn digest(&self) -> &Digest {
        self.descriptor.digest()
    }

    /// The layer descriptors, base first
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// The diff_ids of the layers, base first
    pub fn diff_ids(&self) -> &[String] {
        self.config.rootfs().diff_ids()
    }

    /// Every blob the image is made of: manifest, config, layers
    pub fn blobs(&self) -> Vec<Digest> {
        let mut blobs = vec![
            self.descriptor.digest().clone(),
            self.manifest.config().digest().clone(),
        ];
        blobs.extend(
            self.manifest
                .layers()
                .iter()
                .map(|layer| layer.digest().clone()),
        );
        blobs
    }

    /// Copies every blob of the image from one store to another (hard links where possible)
    pub fn copy_blobs(&self, from: &BlobStore, to: &BlobStore) -> Result<()> {
        for digest in self.blobs() {
            to.copy_from(from, &digest)?;
        }
        Ok(())
    }
}

/// One history entry of the image config
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The command or step that made the layer, e.g. `component hello-world 1.0.0 build`
    pub created_by: String,
    /// A free comment
    pub comment: Option<String>,
}

/// Builds an image config and manifest on top of a base (or from scratch)
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    architecture: Arch,
    os: Os,
    created: String,
    env: Vec<String>,
    user: Option<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    labels: BTreeMap<String, String>,
    exposed_ports: Option<Vec<String>>,
    volumes: Option<Vec<String>>,
    stop_signal: Option<String>,
    annotations: BTreeMap<String, String>,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    history: Vec<History>,
}

impl ImageBuilder {
    /// An empty image (`FROM scratch`) for a platform, dated `source_date_epoch`
    pub fn new(architecture: Arch, os: Os, source_date_epoch: u64) -> Self {
        Self {
            architecture,
            os,
            created: rfc3339(source_date_epoch),
            env: Vec::new(),
            user: None,
            entrypoint: None,
            cmd: None,
            working_dir: None,
            labels: BTreeMap::new(),
            exposed_ports: None,
            volumes: None,
            stop_signal: None,
            annotations: BTreeMap::new(),
            layers: Vec::new(),
            diff_ids: Vec::new(),
            history: Vec::new(),
        }
    }

    /// An image on top of `base`: its layers, history and runtime config are kept; the new
    /// image is dated `source_date_epoch`
    pub fn from_base(base: &Image, source_date_epoch: u64) -> Self {
        let mut builder = Self::new(
            base.config.architecture().clone(),
            base.config.os().clone(),
            source_date_epoch,
        );
        if let Some(config) = base.config.config() {
            builder.env = config.env().clone().unwrap_or_default();
            builder.user = config.user().clone();
            builder.entrypoint = config.entrypoint().clone();
            builder.cmd = config.cmd().clone();
            builder.working_dir = config.working_dir().clone();
            builder.labels = config
                .labels()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            builder.exposed_ports = config.exposed_ports().clone();
            builder.volumes = config.volumes().clone();
            builder.stop_signal = config.stop_signal().clone();
        }
        builder.layers = base.manifest.layers().clone();
        builder.diff_ids = base.config.rootfs().diff_ids().clone();
        builder.history = base.config.history().clone().unwrap_or_default();
        builder
    }

    /// Adds a layer on top, with its history entry
    pub fn add_layer(&mut self, layer: &Layer, history: HistoryEntry) -> &mut Self {
        self.layers.push(layer.descriptor.clone());
        self.diff_ids.push(layer.diff_id.to_string());
        self.push_history(history, false);
        self
    }

    /// Adds a history entry for a step that changed no file (`empty_layer: true`)
    pub fn add_empty_layer(&mut self, history: HistoryEntry) -> &mut Self {
        self.push_history(history, true);
        self
    }

    fn push_history(&mut self, entry: HistoryEntry, empty_layer: bool) {
        let mut history = History::default();
        history.set_created(Some(self.created.clone()));
        history.set_created_by(Some(entry.created_by));
        history.set_comment(entry.comment);
        history.set_empty_layer(empty_layer.then_some(true));
        self.history.push(history);
    }

    /// Sets an environment variable, replacing an earlier value of the same name
    pub fn set_env(&mut self, name: &str, value: &str) -> &mut Self {
        let prefix = format!("{name}=");
        let entry = format!("{name}={value}");
        match self
            .env
            .iter_mut()
            .find(|existing| existing.starts_with(&prefix))
        {
            Some(existing) => *existing = entry,
            None => self.env.push(entry),
        }
        self
    }

    /// Sets the user the container runs as (`name`, `uid`, `uid:gid`...)
    pub fn set_user(&mut self, user: impl Into<String>) -> &mut Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the entrypoint
    pub fn set_entrypoint(&mut self, entrypoint: Vec<String>) -> &mut Self {
        self.entrypoint = Some(entrypoint);
        self
    }

    /// Sets the default command
    pub fn set_cmd(&mut self, cmd: Vec<String>) -> &mut Self {
        self.cmd = Some(cmd);
        self
    }

    /// Sets the working directory
    pub fn set_working_dir(&mut self, working_dir: impl Into<String>) -> &mut Self {
        self.working_dir = Some(working_dir.into());
        self
    }

    /// Sets a label in the image config
    pub fn set_label(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Sets an annotation on the manifest
    pub fn set_annotation(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.annotations.insert(name.into(), value.into());
        self
    }

    /// The image config this builder describes
    pub fn config(&self) -> Result<ImageConfiguration> {
        let mut config = ConfigBuilder::default();
        if !self.env.is_empty() {
            config = config.env(self.env.clone());
        }
        if let Some(user) = &self.user {
            config = config.user(user.clone());
        }
        if let Some(entrypoint) = &self.entrypoint {
            config = config.entrypoint(entrypoint.clone());
        }
        if let Some(cmd) = &self.cmd {
            config = config.cmd(cmd.clone());
        }
        if let Some(working_dir) = &self.working_dir {
            config = config.working_dir(working_dir.clone());
        }
        if !self.labels.is_empty() {
            config = config.labels(self.labels.clone().into_iter().collect::<HashMap<_, _>>());
        }
        if let Some(ports) = &self.exposed_ports {
            config = config.exposed_ports(ports.clone());
        }
        if let Some(volumes) = &self.volumes {
            config = config.volumes(volumes.clone());
        }
        if let Some(signal) = &self.stop_signal {
            config = config.stop_signal(signal.clone());
        }
        let config = config.build().map_err(|source| OciError::Spec {
            what: "runtime config",
            source,
        })?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(self.diff_ids.clone())
            .build()
            .map_err(|source| OciError::Spec {
                what: "rootfs",
                source,
            })?;
        ImageConfigurationBuilder::default()
            .created(self.created.clone())
            .architecture(self.architecture.clone())
            .os(self.os.clone())
            .config(config)
            .rootfs(rootfs)
            .history(self.history.clone())
            .build()
            .map_err(|source| OciError::Spec {
                what: "image config",
                source,
            })
    }

    /// Writes the config and manifest blobs into `store` (layers must already be there)
    pub fn build(&self, store: &BlobStore) -> Result<Image> {
        let config = self.config()?;
        let config_bytes = canonical_json(&config, "image config")?;
        let (config_digest, config_size) = store.write_bytes(&config_bytes)?;
        let mut manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_size,
                config_digest,
            ))
            .layers(self.layers.clone());
        if !self.annotations.is_empty() {
            manifest = manifest.annotations(
                self.annotations
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            );
        }
        let manifest = manifest.build().map_err(|source| OciError::Spec {
            what: "image manifest",
            source,
        })?;
        let manifest_bytes = canonical_json(&manifest, "image manifest")?;
        let (digest, size) = store.write_bytes(&manifest_bytes)?;
        let mut descriptor = Descriptor::new(MediaType::ImageManifest, size, digest);
        let mut platform = oci_spec::image::Platform::default();
        platform.set_architecture(self.architecture.clone());
        platform.set_os(self.os.clone());
        descriptor.set_platform(Some(platform));
        Ok(Image {
            descriptor,
            manifest,
            config,
        })
    }
}

/// Serialises with object keys sorted at every level, so maps (which `oci-spec` keeps in
/// `HashMap`s) always produce the same bytes
pub fn canonical_json(value: &impl Serialize, what: &'static str) -> Result<Vec<u8>> {
    let json_error = |source| OciError::Json {
        action: "serialize",
        what,
        path: String::from("<memory>"),
        source,
    };
    let value = serde_json::to_value(value).map_err(json_error)?;
    serde_json::to_vec(&sorted(value)).map_err(json_error)
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sorted(value)))
                    .collect(),
            )
        }
        serde_json::Value::Array(values) => {
            serde_json::Value::Array(values.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`)
pub fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut map = HashMap::new();
        for key in ["zeta", "alpha", "mid"] {
            map.insert(key.to_owned(), 1);
        }
        let bytes = canonical_json(&map, "test").unwrap();
        assert_eq!(bytes, br#"{"alpha":1,"mid":1,"zeta":1}"#);
    }

    #[test]
    fn set_env_replaces() {
        let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, 0);
        builder
            .set_env("PATH", "/bin")
            .set_env("A", "1")
            .set_env("PATH", "/usr/bin");
        let config = builder.config().unwrap();
        assert_eq!(
            config.config().as_ref().unwrap().env().as_ref().unwrap(),
            &vec!["PATH=/usr/bin".to_owned(), "A=1".to_owned()]
        );
    }
}
