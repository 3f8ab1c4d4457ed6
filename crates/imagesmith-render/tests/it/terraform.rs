//! The rendered Terraform passes `terraform validate` (issue 12: python-hcl2 parsing it is
//! not enough). Each root (`terraform/` and `terraform/bootstrap/`) is initialised from a
//! filesystem mirror of the AWS provider, without the backend and without the network.
//!
//! The mirror is `IMAGESMITH_TERRAFORM_PLUGIN_DIR`, else `/opt/tf-plugins`, else
//! `~/.terraform.d/plugins`. Without `terraform` or a mirror the test prints `skipped: ...`
//! and passes, even under `CI=true`: neither can be installed from the package registries.

use crate::support::{render_everything, render_seed, write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the AWS provider mirror is, or why there is none.
fn plugin_dir() -> Result<PathBuf, String> {
    let has_aws = |dir: &Path| dir.join("registry.terraform.io/hashicorp/aws").is_dir();
    if let Some(dir) = std::env::var_os("IMAGESMITH_TERRAFORM_PLUGIN_DIR") {
        let dir = PathBuf::from(dir);
        return if has_aws(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "IMAGESMITH_TERRAFORM_PLUGIN_DIR={} holds no registry.terraform.io/hashicorp/aws",
                dir.display()
            ))
        };
    }
    let mut candidates = vec![PathBuf::from("/opt/tf-plugins")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".terraform.d/plugins"));
    }
    candidates.into_iter().find(|d| has_aws(d)).ok_or_else(|| {
        "no AWS provider mirror in IMAGESMITH_TERRAFORM_PLUGIN_DIR, /opt/tf-plugins or \
         ~/.terraform.d/plugins"
            .to_string()
    })
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `terraform <args>` in `root`, with its data, CLI configuration and home in `scratch` so
/// nothing outside the temporary folders is read or written.
fn terraform(root: &Path, scratch: &Path, args: &[&str]) -> Output {
    let cli_config = scratch.join("terraformrc");
    std::fs::write(&cli_config, "").expect("write CLI config");
    Command::new("terraform")
        .args(args)
        .current_dir(root)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_INPUT", "0")
        .env("TF_DATA_DIR", scratch.join("data"))
        .env("TF_CLI_CONFIG_FILE", &cli_config)
        .env("HOME", scratch.join("home"))
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .env_remove("TF_CLI_ARGS")
        .env_remove("TF_CLI_ARGS_init")
        .env_remove("TF_CLI_ARGS_validate")
        .env_remove("TF_WORKSPACE")
        .output()
        .expect("terraform runs")
}

#[test]
fn terraform_roots_pass_terraform_validate() {
    let version = Command::new("terraform").arg("version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `terraform` is not installed (it is not in the package registries)");
        return;
    }
    let plugins = match plugin_dir() {
        Ok(dir) => dir,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    // The seed, and the seed with ECR lifecycle and pull policies (issue 12).
    let seed = write(&render_seed());
    let everything = write(&render_everything());
    let mut failures = Vec::new();
    for (dir, root) in [
        (&seed, "terraform"),
        (&seed, "terraform/bootstrap"),
        (&everything, "terraform"),
    ] {
        let path = dir.path().join(root);
        assert!(
            path.join("versions.tf").is_file() || path.join("main.tf").is_file(),
            "{root} is not rendered"
        );
        let scratch = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(scratch.path().join("home")).expect("home");
        let plugin_arg = format!("-plugin-dir={}", plugins.display());
        let init = terraform(
            &path,
            scratch.path(),
            &[
                "init",
                "-backend=false",
                "-input=false",
                "-no-color",
                &plugin_arg,
            ],
        );
        if !init.status.success() {
            failures.push(format!("terraform init in {root} failed:\n{}", text(&init)));
            continue;
        }
        let validate = terraform(&path, scratch.path(), &["validate", "-no-color"]);
        if !validate.status.success() {
            failures.push(format!(
                "terraform validate in {root} failed:\n{}",
                text(&validate)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
