//! AWSTOE component documents: one per (component, OS, version) in use, with the planned
//! parameter values written in as defaults, plus the two helper documents pipelines use
//! around a component that needs secrets (fetch them from AWS Secrets Manager into
//! `/run/secrets/<name>`, then delete them before the image is captured).

use crate::common::{clean_source, content_version, header, Input};
use crate::{yaml, RenderError, Rendered};
use imagesmith_model::{AwstoeDocument, Component, ImageType, OsFamily, PackageManager};
use imagesmith_plan::{LockedComponent, LockedImage, LockedProject, Role};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What a document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    /// A catalog component's document.
    Component,
    /// Reads a component's secrets from AWS Secrets Manager into `/run/secrets`.
    FetchSecrets,
    /// Deletes them again.
    DeleteSecrets,
    /// Installs every pending OS update with the image's package manager (golden Linux
    /// container recipes, in place of the Amazon-managed `update-linux`).
    OsUpdate,
}

/// One rendered AWSTOE document.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub kind: DocKind,
    /// The component it belongs to.
    pub component: String,
    /// The component's one-line description.
    pub description: String,
    /// The OS id.
    pub os: String,
    /// The OS display name.
    pub os_name: String,
    /// The OS family.
    pub family: OsFamily,
    /// The component's version (`1.6.6`), or `-` for helper documents.
    pub version: String,
    /// The document with parameter defaults filled in.
    pub document: AwstoeDocument,
    /// The YAML text of the document, without the header.
    pub body: String,
    /// The file, `awstoe/<os>/<name>.yaml`.
    pub path: String,
    /// The Image Builder version derived from the body.
    pub image_builder_version: String,
    /// Inputs for the header.
    pub sources: Vec<String>,
}

impl Doc {
    /// The full file text: header, then the document.
    pub(crate) fn text(&self) -> String {
        let what = match self.kind {
            DocKind::Component => format!(
                "AWSTOE document: {} {} on {} (Image Builder component version {})",
                self.component, self.version, self.os_name, self.image_builder_version
            ),
            DocKind::FetchSecrets => format!(
                "AWSTOE document: fetch the secrets of {} on {} from AWS Secrets Manager (version {})",
                self.component, self.os_name, self.image_builder_version
            ),
            DocKind::DeleteSecrets => format!(
                "AWSTOE document: delete the secrets of {} on {} before capture (version {})",
                self.component, self.os_name, self.image_builder_version
            ),
            DocKind::OsUpdate => format!(
                "AWSTOE document: install the pending OS updates on {} (version {})",
                self.os_name, self.image_builder_version
            ),
        };
        let mut text = yaml::comment(&header(&what, &self.sources));
        text.push_str(&self.body);
        text
    }

    /// The file name without folder and extension.
    pub(crate) fn stem(&self) -> &str {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.strip_suffix(".yaml").unwrap_or(name)
    }
}

/// A document's identity: component, OS id and body.
type ContentKey = (String, String, String);

type Collected = (
    Vec<Doc>,
    BTreeMap<(usize, usize), usize>,
    BTreeMap<(String, String), (usize, usize)>,
    BTreeMap<String, usize>,
);

/// Every document the plan needs, sorted by path, with the index of each image component's
/// document and of each component's secret helpers.
pub(crate) fn collect(plan: &LockedProject) -> Result<Collected, RenderError> {
    // (component, os, body) → document; the same content used by two images is one document.
    let mut by_content: BTreeMap<(String, String, String), Doc> = BTreeMap::new();
    let mut uses: Vec<((usize, usize), ContentKey)> = Vec::new();
    let mut helpers: BTreeMap<(String, String), (Doc, Doc)> = BTreeMap::new();
    for (image_index, image) in plan.images.iter().enumerate() {
        for (component_index, planned) in image.components.iter().enumerate() {
            let document = filled(planned);
            let value = serde_json::to_value(&document).map_err(|e| RenderError::Document {
                component: planned.name.clone(),
                os: image.os.id.clone(),
                reason: e.to_string(),
            })?;
            let body = yaml::to_string(&value);
            let key = (planned.name.clone(), image.os.id.clone(), body.clone());
            let source = if planned.source.is_empty() {
                format!("component `{}`", planned.name)
            } else {
                clean_source(&planned.source)
            };
            by_content.entry(key.clone()).or_insert_with(|| Doc {
                kind: DocKind::Component,
                component: planned.name.clone(),
                description: planned.component.description.clone(),
                os: image.os.id.clone(),
                os_name: image.os.name.clone(),
                family: image.os.family,
                version: planned.version.to_string(),
                image_builder_version: content_version(
                    Some(planned.version.as_str()),
                    body.as_bytes(),
                ),
                document,
                body,
                path: String::new(),
                sources: vec![format!(
                    "{source} ({} {}, {})",
                    planned.name, planned.version, image.os.id
                )],
            });
            // The header names only the component: listing the images that use the document
            // would change `Data` (in CloudFormation and Terraform) without changing the
            // content-derived version, which Image Builder rejects.
            uses.push(((image_index, component_index), key));
            if !planned.secrets.is_empty() {
                helpers
                    .entry((planned.name.clone(), image.os.id.clone()))
                    .or_insert_with(|| secret_helpers(plan, image, planned, &source));
            }
        }
    }
    // File names: `<component>-<version>`, with the Image Builder patch added when one
    // component, OS and version has two different documents (different parameters).
    let mut counts: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for doc in by_content.values() {
        *counts
            .entry((doc.component.clone(), doc.os.clone(), doc.version.clone()))
            .or_default() += 1;
    }
    for doc in by_content.values_mut() {
        let shared = counts[&(doc.component.clone(), doc.os.clone(), doc.version.clone())] > 1;
        let version = file_safe(&doc.version);
        doc.path = if shared {
            let patch = doc
                .image_builder_version
                .rsplit('.')
                .next()
                .unwrap_or_default();
            format!("awstoe/{}/{}-{version}-{patch}.yaml", doc.os, doc.component)
        } else {
            format!("awstoe/{}/{}-{version}.yaml", doc.os, doc.component)
        };
    }
    let mut docs: Vec<Doc> = Vec::new();
    let mut index_of_key: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut all: Vec<((String, String, String), Doc)> = by_content.into_iter().collect();
    all.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    for (key, doc) in all {
        index_of_key.insert(key, docs.len());
        docs.push(doc);
    }
    let doc_of = uses
        .into_iter()
        .map(|(at, key)| (at, index_of_key[&key]))
        .collect();
    let mut secret_docs = BTreeMap::new();
    for (key, (fetch, delete)) in helpers {
        secret_docs.insert(key, (docs.len(), docs.len() + 1));
        docs.push(fetch);
        docs.push(delete);
    }
    let mut os_update_docs = BTreeMap::new();
    for image in &plan.images {
        let wanted = image.role == Role::Golden
            && image.image_type == ImageType::Container
            && image.os.family == OsFamily::Linux;
        if wanted && !os_update_docs.contains_key(&image.os.id) {
            if let Some(doc) = os_update(image) {
                os_update_docs.insert(image.os.id.clone(), docs.len());
                docs.push(doc);
            }
        }
    }
    Ok((docs, doc_of, secret_docs, os_update_docs))
}

/// The OS update of a golden Linux container recipe: the image's package manager upgrades
/// every installed package. It stands where AMI recipes have the Amazon-managed
/// `update-linux`, which no Image Builder document found lists for container recipes.
fn os_update(image: &LockedImage) -> Option<Doc> {
    let script = match image.os.package_manager {
        PackageManager::Dnf => "set -eu\ndnf -y upgrade --refresh\ndnf clean all\n",
        PackageManager::Apt => "set -eu\nexport DEBIAN_FRONTEND=noninteractive\napt-get update\napt-get -y upgrade\nrm -rf /var/lib/apt/lists/*\n",
        PackageManager::Windows => return None,
    };
    let value = json!({
        "name": "imagesmith-os-update",
        "description": format!("Install every pending OS update of {} (imagesmith)", image.os.name),
        "schemaVersion": "1.0",
        "phases": [{
            "name": "build",
            "steps": [{
                "name": "UpgradePackages",
                "action": "ExecuteBash",
                "inputs": {"commands": [script]},
            }],
        }],
    });
    let document: AwstoeDocument = serde_json::from_value(value).ok()?;
    let body = yaml::to_string(&serde_json::to_value(&document).ok()?);
    Some(Doc {
        kind: DocKind::OsUpdate,
        component: "os-update".to_string(),
        description: format!("Install every pending OS update of {}", image.os.name),
        os: image.os.id.clone(),
        os_name: image.os.name.clone(),
        family: image.os.family,
        version: "-".to_string(),
        image_builder_version: content_version(Some("1.0"), body.as_bytes()),
        document,
        body,
        path: format!("awstoe/{}/os-update.yaml", image.os.id),
        sources: vec![format!("os `{}` (its package manager)", image.os.id)],
    })
}

fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The component's document with `default:` of each declared parameter set to the planned
/// value, so the document installs exactly what was planned without pipeline parameters.
fn filled(planned: &LockedComponent) -> AwstoeDocument {
    let mut document = planned.platform.document.clone();
    for entry in &mut document.parameters {
        for (name, parameter) in entry.iter_mut() {
            if let Some(value) = planned.parameters.get(name) {
                parameter.default = Some(value.clone());
            }
        }
    }
    document
}

/// The secret parameters of a component with the Secrets Manager id each is read from, and
/// whether it is required.
pub(crate) fn secret_ids(
    plan: &LockedProject,
    component: &Component,
) -> Vec<(String, String, bool)> {
    component
        .parameters
        .iter()
        .filter(|p| p.secret)
        .map(|p| {
            let id = p
                .aws_secret
                .clone()
                .unwrap_or_else(|| format!("{}/{}/{}", plan.project, component.name, p.name));
            (p.name.clone(), id, p.required)
        })
        .collect()
}

fn secret_helpers(
    plan: &LockedProject,
    image: &LockedImage,
    planned: &LockedComponent,
    source: &str,
) -> (Doc, Doc) {
    let ids = secret_ids(plan, &planned.component);
    let names: Vec<String> = ids.iter().map(|(n, _, _)| n.clone()).collect();
    let slug = planned.name.replace('_', "-");
    let (fetch_script, delete_script, action) = match image.os.family {
        OsFamily::Linux => (fetch_bash(&ids), delete_bash(&names), "ExecuteBash"),
        OsFamily::Windows => (
            fetch_powershell(&ids),
            delete_powershell(&names),
            "ExecutePowerShell",
        ),
    };
    let make = |kind: DocKind, name: String, description: String, step: &str, script: String| {
        let value = json!({
            "name": name,
            "description": description,
            "schemaVersion": "1.0",
            "phases": [{
                "name": "build",
                "steps": [{
                    "name": step,
                    "action": action,
                    "inputs": {"commands": [script]},
                }],
            }],
        });
        let document: AwstoeDocument =
            serde_json::from_value(value.clone()).unwrap_or_else(|_| AwstoeDocument {
                name: String::new(),
                description: None,
                schema_version: "1.0".to_string(),
                parameters: Vec::new(),
                constants: Vec::new(),
                phases: Vec::new(),
            });
        let body = yaml::to_string(&serde_json::to_value(&document).unwrap_or(Value::Null));
        let file = match kind {
            DocKind::FetchSecrets => "fetch-secrets",
            _ => "delete-secrets",
        };
        Doc {
            kind,
            component: planned.name.clone(),
            description,
            os: image.os.id.clone(),
            os_name: image.os.name.clone(),
            family: image.os.family,
            version: "-".to_string(),
            image_builder_version: content_version(Some("1.0"), body.as_bytes()),
            document,
            body,
            path: format!("awstoe/{}/{}-{file}.yaml", image.os.id, planned.name),
            sources: vec![format!(
                "{source} (secret parameters of {}: {})",
                planned.name,
                names.join(", ")
            )],
        }
    };
    (
        make(
            DocKind::FetchSecrets,
            format!("imagesmith-fetch-secrets-{slug}"),
            format!(
                "Read the secrets of {} from AWS Secrets Manager into /run/secrets (imagesmith)",
                planned.name
            ),
            "FetchSecrets",
            fetch_script,
        ),
        make(
            DocKind::DeleteSecrets,
            format!("imagesmith-delete-secrets-{slug}"),
            format!(
                "Delete the secrets of {} from /run/secrets before the image is captured (imagesmith)",
                planned.name
            ),
            "DeleteSecrets",
            delete_script,
        ),
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn fetch_bash(ids: &[(String, String, bool)]) -> String {
    let mut script = String::from(
        r#"set -euo pipefail
# Components read secrets from /run/secrets/<name>; values never pass through parameters,
# logs or this document.
if ! command -v aws >/dev/null 2>&1; then
  echo "The AWS CLI is needed to read secrets from AWS Secrets Manager" >&2
  echo "hint: put the aws-cli-version-2-linux component before this one" >&2
  exit 1
fi
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ -z "$region" ]; then
  imds=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  region=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds" http://169.254.169.254/latest/meta-data/placement/region)
fi
umask 077
mkdir -p /run/secrets
fetch() {
  if ! aws secretsmanager get-secret-value --region "$region" --secret-id "$1" \
      --query SecretString --output text > "/run/secrets/$2"; then
    rm -f "/run/secrets/$2"
    if [ "$3" = required ]; then
      echo "Cannot read secret \`$1\` from AWS Secrets Manager" >&2
      echo "hint: create it, and let the build instance role read it" >&2
      exit 1
    fi
    echo "Optional secret \`$1\` is not set; continuing without it"
  fi
}
"#,
    );
    for (name, id, required) in ids {
        script.push_str(&format!(
            "fetch {} {} {}\n",
            shell_quote(id),
            name,
            if *required { "required" } else { "optional" }
        ));
    }
    script
}

fn delete_bash(names: &[String]) -> String {
    let mut script = String::from("set -euo pipefail\n");
    for name in names {
        script.push_str(&format!("rm -f /run/secrets/{name}\n"));
    }
    script.push_str("rmdir /run/secrets 2>/dev/null || true\n");
    script
}

fn fetch_powershell(ids: &[(String, String, bool)]) -> String {
    let mut script = String::from(
        "$ErrorActionPreference = 'Stop'\n# Components read secrets from /run/secrets/<name>; values never pass through parameters.\nNew-Item -ItemType Directory -Force -Path /run/secrets | Out-Null\n",
    );
    for (name, id, required) in ids {
        script.push_str(&format!(
            "$value = aws secretsmanager get-secret-value --secret-id '{id}' --query SecretString --output text\nif ($LASTEXITCODE -eq 0) {{ Set-Content -NoNewline -Path /run/secrets/{name} -Value $value }} elseif (${required}) {{ throw 'Cannot read secret {id} from AWS Secrets Manager' }}\n",
            required = if *required { "true" } else { "false" }
        ));
    }
    script.push_str("Remove-Variable value\n");
    script
}

fn delete_powershell(names: &[String]) -> String {
    let mut script = String::from("$ErrorActionPreference = 'Stop'\n");
    for name in names {
        script.push_str(&format!(
            "Remove-Item -Force -ErrorAction SilentlyContinue -Path /run/secrets/{name}\n"
        ));
    }
    script
}

/// Writes every document.
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    for doc in &input.docs {
        rendered.push(doc.path.clone(), doc.text());
    }
}
