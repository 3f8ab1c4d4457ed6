//! GitHub Actions workflows: `validate.yml` (specs on pull requests, SARIF to code scanning),
//! `build-golden.yml` (daily and on recipe change, matrix over OS), `build-docker-image.yml`
//! (customized images: validate, build, Trivy and Grype gates from the project's thresholds,
//! push with immutable `v<semver>` and `v<semver>-<run id>` tags) and `deploy-infra.yml`
//! (Terraform plan and apply). AWS access is always OIDC role assumption; no keys.

use crate::common::{header, Gate, Input};
use crate::dockerfile::golden_reference;
use crate::{yaml, Rendered, TerraformBackend};
use imagesmith_model::{ImageType, OsFamily, Severity};
use imagesmith_plan::{LockedImage, Parent, Role};
use serde_json::{json, Value};

const CHECKOUT: &str = "actions/checkout@v4";
const AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@v4";
const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login@v2";
const SECRETS: &str = "aws-actions/aws-secretsmanager-get-secrets@v2";
const BUILDX: &str = "docker/setup-buildx-action@v3";
const BUILD_PUSH: &str = "docker/build-push-action@v6";
const TRIVY: &str = "aquasecurity/trivy-action@0.28.0";
const GRYPE: &str = "anchore/scan-action@v6";
const UPLOAD_SARIF: &str = "github/codeql-action/upload-sarif@v3";
const SETUP_TERRAFORM: &str = "hashicorp/setup-terraform@v3";

fn folders(input: &Input<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let paths = input
        .project()
        .and_then(|p| p.paths.clone())
        .unwrap_or_default();
    let or = |given: &[String], default: &str| {
        if given.is_empty() {
            vec![default.to_string()]
        } else {
            given.to_vec()
        }
    };
    (
        or(&paths.specs, "specs"),
        or(&paths.recipes, "recipes"),
        or(&paths.components, "components"),
    )
}

fn globs(folders: &[String]) -> Vec<Value> {
    folders
        .iter()
        .map(|f| json!(format!("{}/**", f.trim_end_matches('/'))))
        .collect()
}

fn out_dir(input: &Input<'_>) -> String {
    input.options.output_dir.trim_end_matches('/').to_string()
}

fn install_imagesmith() -> Value {
    json!({
        "name": "Install imagesmith",
        "env": {
            "IMAGESMITH_URL": "${{ vars.IMAGESMITH_URL }}",
            "IMAGESMITH_SHA256": "${{ vars.IMAGESMITH_SHA256 }}",
        },
        "run": "curl -fsSL --retry 3 -o \"$RUNNER_TEMP/imagesmith\" \"$IMAGESMITH_URL\"\necho \"$IMAGESMITH_SHA256  $RUNNER_TEMP/imagesmith\" | sha256sum -c -\nsudo install -m 0755 \"$RUNNER_TEMP/imagesmith\" /usr/local/bin/imagesmith\nimagesmith --version\n",
    })
}

fn aws_login(role_variable: &str) -> Value {
    json!({
        "name": "Assume the AWS role (OIDC, no stored keys)",
        "uses": AWS_CREDENTIALS,
        "with": {
            "role-to-assume": format!("${{{{ vars.{role_variable} }}}}"),
            "role-session-name": "imagesmith-${{ github.run_id }}",
            "aws-region": "${{ env.AWS_REGION }}",
        },
    })
}

fn severities(fail_on: Severity) -> String {
    Severity::ALL
        .iter()
        .filter(|s| **s >= fail_on)
        .map(|s| s.as_str().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(",")
}

fn write(input: &Input<'_>, rendered: &mut Rendered, name: &str, what: &str, workflow: Value) {
    let mut sources: Vec<String> = Vec::new();
    if let Some(project) = input.project_source() {
        sources.push(format!("{project} (project `{}`)", input.name()));
    }
    for image in &input.plan.images {
        sources.push(format!(
            "{} (image `{}`)",
            crate::common::clean_source(&image.source),
            image.name
        ));
    }
    let mut text = yaml::comment(&header(what, &sources));
    text.push_str(&yaml::to_string(&workflow));
    rendered.push(format!(".github/workflows/{name}"), text);
}

/// Writes the four workflows.
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    validate(input, rendered);
    build_golden(input, rendered);
    build_docker_image(input, rendered);
    deploy_infra(input, rendered);
}

fn validate(input: &Input<'_>, rendered: &mut Rendered) {
    let (specs, recipes, components) = folders(input);
    let mut paths = globs(&specs);
    paths.extend(globs(&recipes));
    paths.extend(globs(&components));
    paths.push(json!("imagesmith.yaml"));
    paths.push(json!("imagesmith.lock"));
    let workflow = json!({
        "name": "validate",
        "on": {
            "pull_request": { "paths": paths },
            // Weekly: which pins have newer releases, and which fell out of support.
            "schedule": [{ "cron": "23 6 * * 1" }],
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read" },
        "jobs": {
            "outdated": {
                "name": "Newer releases, end-of-life and revoked pins",
                "if": "github.event_name != 'pull_request'",
                "runs-on": "ubuntu-latest",
                "steps": [
                    { "uses": CHECKOUT },
                    install_imagesmith(),
                    {
                        "name": "Outdated pins (fails when one is revoked or past its end of life)",
                        "run": "imagesmith outdated",
                    },
                ],
            },
            "validate": {
                "name": "Validate specs, recipes and components",
                "runs-on": "ubuntu-latest",
                "permissions": { "contents": "read", "security-events": "write" },
                "steps": [
                    { "uses": CHECKOUT },
                    install_imagesmith(),
                    {
                        "name": "Validate (annotations on the pull request)",
                        "run": "imagesmith validate --format github",
                    },
                    {
                        "name": "The lock is up to date (run `imagesmith lock` and commit it)",
                        "run": "imagesmith lock --check",
                    },
                    {
                        "name": "Validate (SARIF for code scanning)",
                        "if": "always()",
                        "run": "imagesmith validate --format sarif > imagesmith.sarif || true\n",
                    },
                    {
                        "name": "Upload SARIF",
                        "if": "always()",
                        "uses": UPLOAD_SARIF,
                        "with": { "sarif_file": "imagesmith.sarif", "category": "imagesmith" },
                    },
                ],
            },
        },
    });
    write(
        input,
        rendered,
        "validate.yml",
        "Workflow: validate specs, recipes and components on pull requests",
        workflow,
    );
}

/// The secrets of an image as the aws-secretsmanager-get-secrets action and BuildKit take
/// them: `ENV,secret-id` lines and `id=ENV` lines.
fn secret_inputs(input: &Input<'_>, image: &LockedImage) -> (String, String) {
    let mut ids = Vec::new();
    let mut envs = Vec::new();
    for component in &image.components {
        for parameter in component.component.parameters.iter().filter(|p| p.secret) {
            let env = parameter
                .env
                .clone()
                .unwrap_or_else(|| parameter.name.to_ascii_uppercase());
            let id = crate::awstoe::secret_ids(input.plan, &component.component)
                .into_iter()
                .find(|(name, _, _)| name == &parameter.name)
                .map(|(_, id, _)| id)
                .unwrap_or_default();
            ids.push(format!("{env},{id}"));
            envs.push(format!("{}={env}", parameter.name));
        }
    }
    (ids.join("\n"), envs.join("\n"))
}

/// Build, scan and push steps for one container image; `matrix` names the matrix fields.
fn container_steps(input: &Input<'_>, customized: bool) -> Vec<Value> {
    let out = out_dir(input);
    let (trivy, grype, snyk) = input.gates();
    let mut steps = vec![
        json!({ "uses": CHECKOUT }),
        aws_login("AWS_BUILD_ROLE_ARN"),
        json!({ "name": "Log in to ECR", "id": "ecr", "uses": ECR_LOGIN }),
        json!({ "uses": BUILDX }),
        json!({
            "name": "Read build secrets from AWS Secrets Manager",
            "if": "matrix.secret-ids != ''",
            "uses": SECRETS,
            "with": { "secret-ids": "${{ matrix.secret-ids }}" },
        }),
    ];
    let mut build_args = String::new();
    if customized {
        steps.push(json!({
            "name": "Find the newest golden parent",
            "id": "golden",
            "env": { "GOLDEN_REPOSITORY": "${{ matrix.golden-repository }}", "REGISTRY": "${{ steps.ecr.outputs.registry }}" },
            "run": "digest=$(aws ecr describe-images --repository-name \"$GOLDEN_REPOSITORY\" \\\n  --query 'sort_by(imageDetails,&imagePushedAt)[-1].imageDigest' --output text)\nif [ -z \"$digest\" ] || [ \"$digest\" = None ]; then\n  echo \"::error::The golden repository $GOLDEN_REPOSITORY has no image; run build-golden first\"\n  exit 1\nfi\necho \"image=$REGISTRY/$GOLDEN_REPOSITORY@$digest\" >> \"$GITHUB_OUTPUT\"\n",
        }));
        build_args = "GOLDEN_IMAGE=${{ steps.golden.outputs.image }}".to_string();
    }
    let mut build = json!({
        "name": "Build",
        "uses": BUILD_PUSH,
        "with": {
            "context": format!("{out}/docker/${{{{ matrix.image }}}}"),
            "file": format!("{out}/docker/${{{{ matrix.image }}}}/Dockerfile"),
            "load": true,
            "push": false,
            "tags": "imagesmith-scan/${{ matrix.image }}:${{ github.run_id }}",
            "labels": "org.opencontainers.image.revision=${{ github.sha }}\norg.opencontainers.image.source=${{ github.server_url }}/${{ github.repository }}\n",
            "secret-envs": "${{ matrix.secret-envs }}",
        },
    });
    if !build_args.is_empty() {
        build["with"]["build-args"] = json!(build_args);
    }
    steps.push(build);
    let scanned = "imagesmith-scan/${{ matrix.image }}:${{ github.run_id }}";
    if let Some(Gate {
        fail_on,
        ignore_unfixed,
    }) = trivy
    {
        steps.push(json!({
            "name": format!("Trivy: fail on {} or worse", fail_on.as_str()),
            "uses": TRIVY,
            "with": {
                "image-ref": scanned,
                "severity": severities(fail_on),
                "ignore-unfixed": ignore_unfixed,
                "exit-code": "1",
                "format": "table",
            },
        }));
    }
    if let Some(Gate {
        fail_on,
        ignore_unfixed,
    }) = grype
    {
        steps.push(json!({
            "name": format!("Grype: fail on {} or worse", fail_on.as_str()),
            "uses": GRYPE,
            "with": {
                "image": scanned,
                "severity-cutoff": fail_on.as_str(),
                "only-fixed": ignore_unfixed,
                "fail-build": true,
                "output-format": "table",
            },
        }));
    }
    if let Some(Gate { fail_on, .. }) = snyk {
        steps.push(json!({
            "name": format!("Snyk: fail on {} or worse", fail_on.as_str()),
            "env": { "SNYK_TOKEN": "${{ secrets.SNYK_TOKEN }}" },
            "run": format!("npx --yes snyk@1 container test \"{scanned}\" --severity-threshold={}\n", fail_on.as_str()),
        }));
    }
    let mut push = json!({
        "name": "Push with immutable tags",
        "env": {
            "REGISTRY": "${{ steps.ecr.outputs.registry }}",
            "REPOSITORY": "${{ matrix.repository }}",
            "VERSION": "${{ matrix.version }}",
            "SCANNED": scanned,
        },
        "run": "target=\"$REGISTRY/$REPOSITORY\"\n# Every run gets its own tag; the release tag is pushed once, the first time the\n# version is built (ECR tags are IMMUTABLE).\ndocker tag \"$SCANNED\" \"$target:v$VERSION-$GITHUB_RUN_ID\"\ndocker push \"$target:v$VERSION-$GITHUB_RUN_ID\"\nif aws ecr describe-images --repository-name \"$REPOSITORY\" --image-ids imageTag=\"v$VERSION\" >/dev/null 2>&1; then\n  echo \"::notice::$target:v$VERSION exists and is immutable; pushed only v$VERSION-$GITHUB_RUN_ID\"\nelse\n  docker tag \"$SCANNED\" \"$target:v$VERSION\"\n  docker push \"$target:v$VERSION\"\nfi\n",
    });
    if customized {
        push["if"] = json!("github.event_name != 'pull_request'");
    }
    steps.push(push);
    steps
}

fn matrix_entry(input: &Input<'_>, image: &LockedImage) -> Value {
    let (ids, envs) = secret_inputs(input, image);
    let mut entry = json!({
        "image": image.name,
        "os": image.os.id,
        "repository": input.repository(image),
        "version": input.image_semver(image),
        "secret-ids": ids,
        "secret-envs": envs,
    });
    if let Parent::Golden { name } = &image.parent {
        if let Some(golden) = input.plan.image(name) {
            entry["golden-repository"] = json!(input.repository(golden));
            entry["golden-default"] = json!(golden_reference(input, golden));
        }
    }
    entry
}

fn build_golden(input: &Input<'_>, rendered: &mut Rendered) {
    let (_, recipes, components) = folders(input);
    let mut paths = globs(&recipes);
    paths.extend(globs(&components));
    paths.push(json!("imagesmith.yaml"));
    paths.push(json!(format!("{}/docker/golden-*/**", out_dir(input))));
    let mut jobs = serde_json::Map::new();
    let containers: Vec<Value> = input
        .images(ImageType::Container, Some(Role::Golden))
        .filter(|(_, i)| i.os.family == OsFamily::Linux)
        .map(|(_, i)| matrix_entry(input, i))
        .collect();
    if !containers.is_empty() {
        jobs.insert(
            "container".into(),
            json!({
                "name": "Golden container image on ${{ matrix.os }}",
                "runs-on": "ubuntu-latest",
                "strategy": { "fail-fast": false, "matrix": { "include": containers } },
                "steps": container_steps(input, false),
            }),
        );
    }
    let amis: Vec<Value> = input
        .images(ImageType::Ami, Some(Role::Golden))
        .map(|(_, i)| json!({ "image": i.name, "os": i.os.id, "pipeline": input.image_builder_name(i).to_ascii_lowercase() }))
        .collect();
    if !amis.is_empty() {
        jobs.insert(
            "ami".into(),
            json!({
                "name": "Golden AMI on ${{ matrix.os }}",
                "runs-on": "ubuntu-latest",
                "strategy": { "fail-fast": false, "matrix": { "include": amis } },
                "steps": [
                    aws_login("AWS_BUILD_ROLE_ARN"),
                    {
                        "name": "Start the Image Builder pipeline",
                        "env": { "PIPELINE": "${{ matrix.pipeline }}" },
                        "run": "account=$(aws sts get-caller-identity --query Account --output text)\npartition=$(aws sts get-caller-identity --query Arn --output text | cut -d: -f2)\narn=\"arn:$partition:imagebuilder:$AWS_REGION:$account:image-pipeline/$PIPELINE\"\naws imagebuilder start-image-pipeline-execution --image-pipeline-arn \"$arn\" \\\n  --query imageBuildVersionArn --output text\n",
                    },
                ],
            }),
        );
    }
    if jobs.is_empty() {
        jobs.insert(
            "nothing".into(),
            json!({ "runs-on": "ubuntu-latest", "steps": [{ "run": "echo \"The project has no golden images\"" }] }),
        );
    }
    let workflow = json!({
        "name": "build-golden",
        "on": {
            "schedule": [{ "cron": "17 5 * * *" }],
            "push": { "branches": ["main"], "paths": paths },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "concurrency": { "group": "build-golden", "cancel-in-progress": false },
        "env": { "AWS_REGION": input.region() },
        "jobs": jobs,
    });
    write(
        input,
        rendered,
        "build-golden.yml",
        "Workflow: build golden images daily and when a recipe changes, one job per OS",
        workflow,
    );
}

fn build_docker_image(input: &Input<'_>, rendered: &mut Rendered) {
    let (specs, _, components) = folders(input);
    let mut paths = globs(&specs);
    paths.extend(globs(&components));
    paths.push(json!(format!("{}/docker/**", out_dir(input))));
    let images: Vec<Value> = input
        .images(ImageType::Container, Some(Role::Customized))
        .filter(|(_, i)| i.os.family == OsFamily::Linux)
        .map(|(_, i)| matrix_entry(input, i))
        .collect();
    let mut jobs = serde_json::Map::new();
    jobs.insert(
        "validate".into(),
        json!({
            "name": "Validate",
            "runs-on": "ubuntu-latest",
            "permissions": { "contents": "read" },
            "steps": [
                { "uses": CHECKOUT },
                install_imagesmith(),
                { "name": "Validate", "run": "imagesmith validate --format github" },
                { "name": "The lock is up to date", "run": "imagesmith lock --check" },
            ],
        }),
    );
    if images.is_empty() {
        jobs.insert(
            "build".into(),
            json!({
                "needs": "validate",
                "runs-on": "ubuntu-latest",
                "steps": [{ "run": "echo \"The project has no customized container images\"" }],
            }),
        );
    } else {
        jobs.insert(
            "build".into(),
            json!({
                "name": "${{ matrix.image }}",
                "needs": "validate",
                "runs-on": "ubuntu-latest",
                "strategy": { "fail-fast": false, "matrix": { "include": images } },
                "steps": container_steps(input, true),
            }),
        );
    }
    let workflow = json!({
        "name": "build-docker-image",
        "on": {
            "pull_request": { "paths": paths.clone() },
            "push": { "branches": ["main"], "paths": paths },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "env": { "AWS_REGION": input.region() },
        "jobs": jobs,
    });
    write(
        input,
        rendered,
        "build-docker-image.yml",
        "Workflow: customized container images — validate, build, scan, push with immutable tags",
        workflow,
    );
}

fn deploy_infra(input: &Input<'_>, rendered: &mut Rendered) {
    let directory = format!("{}/terraform", out_dir(input));
    let mut env =
        json!({ "AWS_REGION": input.region(), "TF_IN_AUTOMATION": "true", "TF_INPUT": "false" });
    if let TerraformBackend::Cloud { hostname, .. } = &input.options.terraform_backend {
        let host = hostname
            .clone()
            .unwrap_or_else(|| "app.terraform.io".to_string());
        env[format!("TF_TOKEN_{}", host.replace(['.', '-'], "_"))] =
            json!("${{ secrets.TF_API_TOKEN }}");
    }
    let workflow = json!({
        "name": "deploy-infra",
        "on": {
            "pull_request": { "paths": [format!("{directory}/**")] },
            "push": { "branches": ["main"], "paths": [format!("{directory}/**")] },
            "workflow_dispatch": {},
        },
        "permissions": { "contents": "read", "id-token": "write" },
        "concurrency": { "group": "deploy-infra", "cancel-in-progress": false },
        "env": env,
        "jobs": {
            "terraform": {
                "name": "Terraform plan and apply",
                "runs-on": "ubuntu-latest",
                "environment": "production",
                "defaults": { "run": { "working-directory": directory } },
                "steps": [
                    { "uses": CHECKOUT },
                    aws_login("AWS_DEPLOY_ROLE_ARN"),
                    { "uses": SETUP_TERRAFORM, "with": { "terraform_version": "1.9.8", "terraform_wrapper": false } },
                    { "name": "Init", "run": "terraform init" },
                    { "name": "Validate", "run": "terraform validate" },
                    {
                        "name": "Plan",
                        "env": { "TF_VAR_github_repository": "${{ github.repository }}" },
                        "run": "terraform plan -out=tfplan",
                    },
                    {
                        "name": "Apply",
                        "if": "github.event_name == 'push' && github.ref == 'refs/heads/main'",
                        "run": "terraform apply tfplan",
                    },
                ],
            },
        },
    });
    write(
        input,
        rendered,
        "deploy-infra.yml",
        "Workflow: Terraform plan on pull requests, apply on main, through OIDC role assumption",
        workflow,
    );
}
