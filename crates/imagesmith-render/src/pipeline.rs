//! The EC2 Image Builder view of an image, shared by the CloudFormation and Terraform
//! targets so both create the same names, versions, parents and component order.

use crate::awstoe::secret_ids;
use crate::common::{content_version, os_update_component, pascal, Input};
use crate::RenderError;
use imagesmith_model::{ImageType, OsFamily};
use imagesmith_plan::{LockedImage, Parent, Role};
use serde_json::json;

/// A component of a recipe.
#[derive(Debug, Clone)]
pub(crate) enum RecipeComponent {
    /// An Amazon-managed component, by name (`aws-cli-version-2-linux`), latest version.
    Managed {
        /// The component name.
        name: String,
    },
    /// One of the rendered documents.
    Own {
        /// Index into [`Input::docs`].
        doc: usize,
        /// The logical id fragment (`NodeExporter`, `FalconSensorFetchSecrets`).
        logical: String,
    },
}

/// What a recipe starts from.
#[derive(Debug, Clone)]
pub(crate) enum ParentImage {
    /// Written as is: a container image reference, an AMI id or an `ssm:` parameter.
    Literal(String),
    /// An ARN with `{region}` (and possibly `{partition}`) to fill in.
    Template(String),
    /// The newest output of this project's golden pipeline of that Image Builder name.
    Golden(String),
}

impl ParentImage {
    /// The parent as text, for hashing and documentation.
    pub(crate) fn describe(&self) -> String {
        match self {
            ParentImage::Literal(text) | ParentImage::Template(text) => text.clone(),
            ParentImage::Golden(name) => format!("golden:{name}"),
        }
    }
}

/// An image as Image Builder builds it.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline<'a> {
    pub image: &'a LockedImage,
    /// The Image Builder name of the recipe, pipeline and image.
    pub name: String,
    /// The recipe's components, in order.
    pub components: Vec<RecipeComponent>,
    pub parent: ParentImage,
    /// Whether the container recipe needs `PlatformOverride` (a parent that is not an Image
    /// Builder image).
    pub platform_override: bool,
    /// The Dockerfile template of a container recipe.
    pub dockerfile_template: Option<String>,
    /// The root device of an AMI recipe and its size in GiB.
    pub root_device: Option<(String, i64)>,
    /// The recipe's content-derived version.
    pub recipe_version: String,
    /// The ECR repository of a container image.
    pub repository: Option<String>,
    /// Secrets Manager ids the build instance reads.
    pub secret_ids: Vec<String>,
}

/// The Image Builder model of `image`.
pub(crate) fn pipeline<'a>(
    input: &Input<'a>,
    index: usize,
    image: &'a LockedImage,
) -> Result<Pipeline<'a>, RenderError> {
    let name = input.image_builder_name(image).to_ascii_lowercase();
    let mut components = Vec::new();
    let mut secret_id_list = Vec::new();
    if image.role == Role::Golden {
        // Golden images are patched: an OS update runs first, so every build (daily, see
        // `common::only_on_updates`) installs the pending OS updates before the project's
        // components. AMI recipes use the Amazon-managed `update-linux`/`update-windows`.
        // Linux container recipes run the image's package manager instead (`awstoe::os_update`):
        // no Image Builder document found says `update-linux` runs in a container build.
        match input.os_update_docs.get(&image.os.id) {
            Some(&doc) if image.image_type == ImageType::Container => {
                components.push(RecipeComponent::Own {
                    doc,
                    logical: "OsUpdate".to_string(),
                });
            }
            _ => components.push(RecipeComponent::Managed {
                name: os_update_component(image.os.family).to_string(),
            }),
        }
    }
    let needs_cli = image.components.iter().any(|c| !c.secrets.is_empty());
    if needs_cli {
        components.push(RecipeComponent::Managed {
            name: match image.os.family {
                OsFamily::Linux => "aws-cli-version-2-linux".to_string(),
                OsFamily::Windows => "aws-cli-version-2-windows".to_string(),
            },
        });
    }
    for (component_index, planned) in image.components.iter().enumerate() {
        let Some(&doc) = input.doc_of.get(&(index, component_index)) else {
            continue;
        };
        let helpers = input
            .secret_docs
            .get(&(planned.name.clone(), image.os.id.clone()));
        if let Some(&(fetch, _)) = helpers {
            components.push(RecipeComponent::Own {
                doc: fetch,
                logical: format!("{}FetchSecrets", pascal(&planned.name)),
            });
            for (_, id, _) in secret_ids(input.plan, &planned.component) {
                if !secret_id_list.contains(&id) {
                    secret_id_list.push(id);
                }
            }
        }
        components.push(RecipeComponent::Own {
            doc,
            logical: pascal(&planned.name),
        });
        if let Some(&(_, delete)) = helpers {
            components.push(RecipeComponent::Own {
                doc: delete,
                logical: format!("{}DeleteSecrets", pascal(&planned.name)),
            });
        }
    }
    let parent = parent_image(input, image)?;
    let platform_override =
        image.image_type == ImageType::Container && !matches!(parent, ParentImage::Golden(_));
    let dockerfile_template =
        (image.image_type == ImageType::Container).then(|| dockerfile_template(input, image));
    let root_device = (image.image_type == ImageType::Ami)
        .then(|| root_device(&image.os.id, image.os.family))
        .flatten();
    let repository = (image.image_type == ImageType::Container).then(|| input.repository(image));
    let component_versions: Vec<(String, String)> = components
        .iter()
        .map(|c| match c {
            RecipeComponent::Managed { name } => (name.clone(), "x.x.x".to_string()),
            RecipeComponent::Own { doc, logical } => (
                logical.clone(),
                input.docs[*doc].image_builder_version.clone(),
            ),
        })
        .collect();
    let fingerprint = json!({
        "name": name,
        "parent": parent.describe(),
        "platform_override": platform_override,
        "components": component_versions,
        "dockerfile": dockerfile_template,
        "root_device": root_device,
        "repository": repository,
        "working_directory": "/tmp",
    });
    let recipe_version = content_version(
        Some(image.version.as_str()),
        fingerprint.to_string().as_bytes(),
    );
    Ok(Pipeline {
        image,
        name,
        components,
        parent,
        platform_override,
        dockerfile_template,
        root_device,
        recipe_version,
        repository,
        secret_ids: secret_id_list,
    })
}

fn parent_image(input: &Input<'_>, image: &LockedImage) -> Result<ParentImage, RenderError> {
    match &image.parent {
        Parent::Golden { name } => {
            let parent = input
                .plan
                .image(name)
                .ok_or_else(|| RenderError::MissingParent {
                    image: image.name.clone(),
                    parent: name.clone(),
                })?;
            Ok(ParentImage::Golden(
                input.image_builder_name(parent).to_ascii_lowercase(),
            ))
        }
        Parent::Base { reference } => {
            if image.image_type == ImageType::Container {
                return Ok(ParentImage::Literal(reference.clone()));
            }
            if reference.starts_with("arn:") {
                return Ok(ParentImage::Template(reference.clone()));
            }
            if reference.starts_with("ssm:") || reference.starts_with("ami-") {
                return Ok(ParentImage::Literal(reference.clone()));
            }
            // Anything else names the OS: prefer the Image Builder managed image, whose
            // `x.x.x` version lets pipelines notice a newer parent.
            let architecture = &input.plan.architecture;
            if let Some(arn) = image.os.imagebuilder_parents.get(architecture) {
                return Ok(ParentImage::Template(arn.clone()));
            }
            if let Some(parameter) = image.os.ami_ssm_parameters.get(architecture) {
                return Ok(ParentImage::Literal(format!("ssm:{parameter}")));
            }
            Err(RenderError::NoAmiSource {
                image: image.name.clone(),
                os: image.os.id.clone(),
                architecture: architecture.clone(),
            })
        }
    }
}

/// The root device of the OS's AMIs, where it is known, and a size with room for builds.
fn root_device(os: &str, family: OsFamily) -> Option<(String, i64)> {
    match (os, family) {
        (_, OsFamily::Windows) => Some(("/dev/sda1".to_string(), 60)),
        ("amazonlinux2023" | "debian12", _) => Some(("/dev/xvda".to_string(), 30)),
        ("ubuntu2204", _) => Some(("/dev/sda1".to_string(), 30)),
        _ => None,
    }
}

/// The container recipe's Dockerfile template: Image Builder fills in the parent, the
/// environment and the component steps.
fn dockerfile_template(input: &Input<'_>, image: &LockedImage) -> String {
    let mut text = String::from("FROM {{{ imagebuilder:parentImage }}}\n");
    if image.role == Role::Customized {
        // The golden parent may end with a non-root user; components install as root.
        text.push_str("USER root\n");
    }
    text.push_str("{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n");
    for (key, value) in crate::dockerfile::labels(input, image) {
        text.push_str(&format!(
            "LABEL {key}={}\n",
            crate::dockerfile::quote_label(&value)
        ));
    }
    for (key, value) in &image.environment {
        text.push_str(&format!(
            "ENV {key}={}\n",
            crate::dockerfile::quote_label(value)
        ));
    }
    if let Some(user) = &image.user {
        text.push_str(&format!("USER {user}\n"));
    }
    text
}
