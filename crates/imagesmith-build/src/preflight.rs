//! Before anything runs: which components can be obtained on this machine
//!
//! A component is unavailable when a secret it needs was not given, when it is fetched
//! through a vendor API whose credentials are missing, when its download (after the
//! mirror rewrite) does not answer a `HEAD` request within a few seconds, or when it
//! downloads from S3 (an `s3://` artifact or an `S3Download` step) and there is no S3 client
//! (imagesmith built without the `aws` feature) or no AWS credentials. The build then
//! fails listing every such component, or, with `--skip-unavailable`, leaves them out and
//! says so in the image's labels, report and SBOM.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use imagesmith_awstoe::exec::S3Fetch;
use imagesmith_model::Artifact;
use imagesmith_plan::{LockedComponent, LockedImage, LockedProject};

use crate::error::Unavailable;

/// Secret values by parameter name, from `--secret NAME=PATH` and the parameters'
/// environment variables; never printed
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// No secrets
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value
    pub fn insert(&mut self, name: &str, value: Vec<u8>) {
        self.values.insert(name.to_owned(), value);
    }

    /// The value of secret `name`: given explicitly, else from the environment variable
    /// `env` when the parameter names one
    pub fn get(&self, name: &str, env: Option<&str>) -> Option<Vec<u8>> {
        if let Some(value) = self.values.get(name) {
            return Some(value.clone());
        }
        let env = env?;
        std::env::var_os(env)
            .filter(|value| !value.is_empty())
            .map(std::os::unix::ffi::OsStringExt::into_vec)
    }

    /// The secrets a component declares, as sandbox secrets (missing ones are left out)
    pub(crate) fn for_component(
        &self,
        component: &LockedComponent,
    ) -> Vec<imagesmith_sandbox::Secret> {
        component
            .component
            .parameters
            .iter()
            .filter(|parameter| parameter.secret)
            .filter_map(|parameter| {
                self.get(&parameter.name, parameter.env.as_deref())
                    .map(|contents| imagesmith_sandbox::Secret {
                        name: parameter.name.clone(),
                        contents,
                    })
            })
            .collect()
    }

    /// Every value in text form, for redaction (whole, and without a final newline)
    pub(crate) fn redaction_values(&self, secrets: &[imagesmith_sandbox::Secret]) -> Vec<String> {
        let mut values = Vec::new();
        for secret in secrets {
            let text = String::from_utf8_lossy(&secret.contents).into_owned();
            let trimmed = text.trim().to_owned();
            values.push(text);
            if !trimmed.is_empty() {
                values.push(trimmed);
            }
        }
        values
    }
}

/// Answers whether a URL can be fetched
pub trait Probe: Send + Sync {
    /// `Ok` when a `HEAD` (or a small `GET`) succeeds, else why not
    fn reachable(&self, url: &str) -> Result<(), String>;
}

/// Probes over HTTP(S) with a short timeout, remembering answers
#[derive(Debug)]
pub struct HttpProbe {
    timeout: Duration,
    answers: Mutex<HashMap<String, Result<(), String>>>,
}

impl HttpProbe {
    /// A probe giving each URL `timeout` to answer
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            answers: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for HttpProbe {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

/// An HTTP agent with these timeouts
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .build()
}

impl Probe for HttpProbe {
    fn reachable(&self, url: &str) -> Result<(), String> {
        if let Ok(answers) = self.answers.lock() {
            if let Some(answer) = answers.get(url) {
                return answer.clone();
            }
        }
        let answer = match agent(self.timeout).head(url).call() {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
            Err(ureq::Error::Transport(transport)) => Err(transport
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| transport.kind().to_string())),
        };
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(url.to_owned(), answer.clone());
        }
        answer
    }
}

pub use imagesmith_plan::render_url;

/// The S3 sources a component downloads from: an `s3://` artifact and the sources of its
/// `S3Download` steps, as written
pub fn s3_sources(component: &LockedComponent) -> Vec<String> {
    let mut sources = Vec::new();
    if let Artifact::Download { url, .. } = &component.platform.artifact {
        if url.starts_with("s3://") {
            sources.push(url.clone());
        }
    }
    let steps = component
        .platform
        .document
        .phases
        .iter()
        .flat_map(|phase| &phase.steps);
    for step in steps.filter(|step| step.action == "S3Download") {
        let items = match &step.inputs {
            Some(serde_json::Value::Array(items)) => items.iter().collect(),
            Some(item) => vec![item],
            None => Vec::new(),
        };
        let found = items
            .iter()
            .filter_map(|item| item.get("source").and_then(serde_json::Value::as_str));
        let before = sources.len();
        sources.extend(found.map(str::to_owned));
        if sources.len() == before {
            sources.push(format!("step `{}`", step.name));
        }
    }
    sources.dedup();
    sources
}

/// Why a component cannot be built here; empty when it can. `s3` is the S3 client, if
/// imagesmith has one
pub fn check_component(
    component: &LockedComponent,
    secrets: &Secrets,
    mirrors: &indexmap::IndexMap<String, String>,
    probe: &dyn Probe,
    s3: Option<&dyn S3Fetch>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut missing = Vec::new();
    for parameter in component
        .component
        .parameters
        .iter()
        .filter(|parameter| parameter.secret && parameter.required)
    {
        if secrets
            .get(&parameter.name, parameter.env.as_deref())
            .is_none()
        {
            missing.push(parameter.name.clone());
            reasons.push(match &parameter.env {
                Some(env) => format!(
                    "secret `{}` is not given (set `{env}` or pass `--secret {}=FILE`)",
                    parameter.name, parameter.name
                ),
                None => format!(
                    "secret `{}` is not given (pass `--secret {}=FILE`)",
                    parameter.name, parameter.name
                ),
            });
        }
    }
    match &component.platform.artifact {
        Artifact::VendorApi {
            description,
            requires,
        } => {
            let lacking: Vec<&String> = requires
                .iter()
                .filter(|name| {
                    let env = component
                        .component
                        .parameters
                        .iter()
                        .find(|parameter| &parameter.name == *name)
                        .and_then(|parameter| parameter.env.as_deref());
                    secrets.get(name, env).is_none()
                })
                .collect();
            if !lacking.is_empty() {
                reasons.push(format!(
                    "it is fetched through a vendor API ({description}) that needs {}",
                    lacking
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Artifact::Download { url, .. } if url.starts_with("s3://") => {}
        Artifact::Download { url, .. } => {
            let url = imagesmith_plan::rewrite(mirrors, &render_url(url, &component.parameters));
            if let Err(why) = probe.reachable(&url) {
                reasons.push(format!("download `{url}` is not reachable ({why}); set a mirror for it in the project's `mirrors`"));
            }
        }
        Artifact::Package { .. } => {}
    }
    let sources = s3_sources(component);
    if !sources.is_empty() {
        let listed = sources
            .iter()
            .map(|source| format!("`{source}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match s3 {
            None => reasons.push(format!(
                "it downloads from S3 ({listed}) and imagesmith was built without the `aws` feature (use an imagesmith built with that feature; README: \"S3 downloads: the `aws` feature\")"
            )),
            Some(s3) => {
                if let Err(why) = s3.check() {
                    reasons.push(format!(
                        "it downloads from S3 ({listed}) and no AWS credentials were found: {why}"
                    ));
                }
            }
        }
    }
    reasons
}

/// Every unavailable component of `images`
pub fn preflight(
    plan: &LockedProject,
    images: &[&LockedImage],
    secrets: &Secrets,
    probe: &dyn Probe,
    s3: Option<&dyn S3Fetch>,
) -> Vec<Unavailable> {
    let mut unavailable = Vec::new();
    for image in images {
        for component in &image.components {
            let reasons = check_component(component, secrets, &plan.mirrors, probe, s3);
            if !reasons.is_empty() {
                unavailable.push(Unavailable {
                    image: image.name.clone(),
                    component: component.name.clone(),
                    reasons,
                });
            }
        }
    }
    unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rendered() {
        let mut parameters = indexmap::IndexMap::new();
        parameters.insert("version".to_owned(), "1.2.3".to_owned());
        parameters.insert("arch".to_owned(), "amd64".to_owned());
        assert_eq!(
            render_url(
                "https://x/v{{ version }}/a-{{version}}.{{ arch }}.tgz",
                &parameters
            ),
            "https://x/v1.2.3/a-1.2.3.amd64.tgz"
        );
    }

    /// Fails or answers `check` as told; never fetches
    struct FakeS3(Result<(), String>);

    impl S3Fetch for FakeS3 {
        fn get(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
            _: &mut dyn std::io::Write,
        ) -> Result<(), imagesmith_awstoe::exec::S3Error> {
            unreachable!("preflight fetches nothing")
        }

        fn list(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<Vec<String>, imagesmith_awstoe::exec::S3Error> {
            unreachable!("preflight lists nothing")
        }

        fn check(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    struct Offline;

    impl Probe for Offline {
        fn reachable(&self, url: &str) -> Result<(), String> {
            Err(format!("`{url}` is offline"))
        }
    }

    /// The catalog's chrony on Debian 12, with an S3Download step in its build phase
    fn downloading_from_s3() -> LockedComponent {
        let context = imagesmith_validate::Context::builtin();
        let definition = context.catalog.component("chrony").unwrap().clone();
        let mut platform = definition.platforms.get("debian12").unwrap().clone();
        platform.document.phases[0].steps.push(
            serde_json::from_value(serde_json::json!({
                "name": "Fetch",
                "action": "S3Download",
                "inputs": [
                    {"source": "s3://tools/agent.deb", "destination": "/tmp/agent.deb"},
                    {"source": "s3://tools/conf/*", "destination": "/etc/agent/"}
                ]
            }))
            .unwrap(),
        );
        LockedComponent::for_test(
            "chrony",
            "4.3",
            definition,
            platform,
            indexmap::IndexMap::new(),
            Vec::new(),
        )
    }

    #[test]
    fn s3_downloads_need_an_s3_client_with_credentials() {
        let component = downloading_from_s3();
        assert_eq!(
            s3_sources(&component),
            ["s3://tools/agent.deb", "s3://tools/conf/*"]
        );
        let mirrors = indexmap::IndexMap::new();
        let check = |s3: Option<&dyn S3Fetch>| {
            check_component(&component, &Secrets::new(), &mirrors, &Offline, s3)
        };
        let reasons = check(None);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with(
                "it downloads from S3 (`s3://tools/agent.deb`, `s3://tools/conf/*`) and imagesmith was built without the `aws` feature"
            ),
            "{}",
            reasons[0]
        );
        assert!(
            reasons[0].contains("S3 downloads: the `aws` feature"),
            "{}",
            reasons[0]
        );
        assert!(!reasons[0].contains("cargo"), "{}", reasons[0]);
        assert_eq!(check(Some(&FakeS3(Ok(())))), Vec::<String>::new());
        let reasons = check(Some(&FakeS3(Err("no profile `ci`".into()))));
        assert_eq!(
            reasons,
            ["it downloads from S3 (`s3://tools/agent.deb`, `s3://tools/conf/*`) and no AWS credentials were found: no profile `ci`"]
        );
    }

    #[test]
    fn s3_artifacts_are_not_probed_over_http() {
        let mut component = downloading_from_s3();
        component.platform.document.phases[0].steps.pop();
        component.platform.artifact = Artifact::Download {
            url: "s3://vendor/agent-{{ version }}.deb".into(),
            checksum: serde_json::from_value(serde_json::json!({"algorithm": "sha256"})).unwrap(),
            arch: indexmap::IndexMap::new(),
        };
        let mirrors = indexmap::IndexMap::new();
        let reasons = check_component(
            &component,
            &Secrets::new(),
            &mirrors,
            &Offline,
            Some(&FakeS3(Ok(()))),
        );
        assert_eq!(reasons, Vec::<String>::new());
        // A component with neither needs no client
        component.platform.artifact = Artifact::Package {
            names: vec!["chrony".into()],
            version: None,
            repository: None,
        };
        assert!(s3_sources(&component).is_empty());
        assert!(check_component(&component, &Secrets::new(), &mirrors, &Offline, None).is_empty());
    }

    #[test]
    fn secret_values_stay_out_of_debug_output() {
        let mut secrets = Secrets::new();
        secrets.insert("token", b"s3cr3t\n".to_vec());
        assert_eq!(secrets.get("token", None).unwrap(), b"s3cr3t\n");
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
    }
}
