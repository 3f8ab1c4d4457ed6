//! Golden images get patched (issue 12, point 4): golden recipes start with the
//! Amazon-managed OS update component, golden pipelines build on every scheduled run unless
//! the project says otherwise, and golden AMIs publish their id to an SSM parameter.

use crate::support::{load, render_seed, seed_copy};
use imagesmith_model::decode;
use imagesmith_render::{render, RenderOptions, Rendered, Target};
use imagesmith_yaml::{load_str, Limits};
use serde_json::Value;
use std::path::Path;

const GOLDEN: &[&str] = &[
    "golden-ami-amazonlinux2023",
    "golden-container-amazonlinux2023",
    "golden-container-ubuntu2204",
];
const CUSTOMIZED: &[&str] = &["customer-container", "static-code-scanner", "tooling-ami"];

fn render_all(root: &Path) -> Rendered {
    render(&load(root), &RenderOptions::new(&[Target::All])).expect("renders")
}

fn contents<'a>(rendered: &'a Rendered, path: &str) -> &'a str {
    &rendered
        .file(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"))
        .contents
}

fn template(rendered: &Rendered, image: &str) -> Value {
    let path = format!("cloudformation/{image}/template.yaml");
    let loaded = load_str(path.clone(), contents(rendered, &path), Limits::DEFAULT);
    decode::to_json(&loaded.root.expect("template parses"))
}

/// The component ARNs of the image's CloudFormation recipe, in order.
fn cfn_components(rendered: &Rendered, image: &str) -> Vec<String> {
    let template = template(rendered, image);
    let resources = &template["Resources"];
    let recipe = if resources["ContainerRecipe"].is_object() {
        &resources["ContainerRecipe"]
    } else {
        &resources["ImageRecipe"]
    };
    recipe["Properties"]["Components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| c["ComponentArn"].to_string())
        .collect()
}

/// The `component_arn`s of the image's Terraform recipe, in order.
fn tf_components(rendered: &Rendered, image: &str) -> Vec<String> {
    contents(rendered, &format!("terraform/imagebuilder-{image}.tf"))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("component_arn"))
        .map(|l| l.trim_start_matches([' ', '=']).to_string())
        .collect()
}

fn cfn_start_condition(rendered: &Rendered, image: &str) -> String {
    template(rendered, image)["Resources"]["ImagePipeline"]["Properties"]["Schedule"]
        ["PipelineExecutionStartCondition"]
        .as_str()
        .expect("start condition")
        .to_string()
}

fn tf_start_condition(rendered: &Rendered, image: &str) -> String {
    contents(rendered, &format!("terraform/imagebuilder-{image}.tf"))
        .lines()
        .find_map(|l| l.trim().strip_prefix("pipeline_execution_start_condition"))
        .expect("start condition")
        .trim_start_matches([' ', '='])
        .trim_matches('"')
        .to_string()
}

#[test]
fn golden_recipes_start_with_the_os_update_and_customized_ones_do_not() {
    let rendered = render_seed();
    for image in GOLDEN {
        let cfn = cfn_components(&rendered, image);
        let tf = tf_components(&rendered, image);
        if image.starts_with("golden-ami-") {
            assert!(
                cfn[0].contains(":aws:component/update-linux/x.x.x"),
                "{image}: {cfn:?}"
            );
            assert_eq!(cfn.iter().filter(|c| c.contains("update-linux")).count(), 1);
            assert!(
                tf[0].contains(":aws:component/update-linux/x.x.x"),
                "{image}: {tf:?}"
            );
        } else {
            // Issue 12: no Image Builder document says `update-linux` runs in a container
            // build; container recipes upgrade with the image's own package manager.
            assert_eq!(
                cfn[0], "{\"Ref\":\"ComponentOsUpdate\"}",
                "{image}: {cfn:?}"
            );
            assert!(cfn.iter().all(|c| !c.contains("update-linux")), "{cfn:?}");
            assert_eq!(
                tf[0],
                format!(
                    "aws_imagebuilder_component.{}_osupdate.arn",
                    image.replace('-', "_")
                ),
                "{image}: {tf:?}"
            );
            let os = image.trim_start_matches("golden-container-");
            let document = contents(&rendered, &format!("awstoe/{os}/os-update.yaml"));
            let upgrade = if os.starts_with("ubuntu") {
                "apt-get -y upgrade"
            } else {
                "dnf -y upgrade"
            };
            assert!(document.contains(upgrade), "{document}");
            assert!(document.contains("action: ExecuteBash"), "{document}");
        }
    }
    for image in CUSTOMIZED {
        for arn in cfn_components(&rendered, image)
            .into_iter()
            .chain(tf_components(&rendered, image))
        {
            assert!(
                !arn.contains("component/update-"),
                "{image} is patched by its golden parent, not by itself: {arn}"
            );
        }
    }
}

#[test]
fn golden_windows_recipes_start_with_update_windows() {
    let dir = seed_copy(|text| {
        text.replace(
            "os: [amazonlinux2023, ubuntu2204]",
            "os: [amazonlinux2023, ubuntu2204, windows2022]",
        )
    });
    std::fs::write(
        dir.path().join("recipes/golden-ami-windows2022.yaml"),
        "# Golden Windows Server 2022 AMI.\nkind: recipe\ndescription: Golden Windows Server 2022 AMI\nimage_type: ami\nos: windows2022\nbase_image: ssm:/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base\nversion: 1.0.0\ncomponents:\n  windows_exporter:\n",
    )
    .expect("write recipe");
    let rendered = render_all(dir.path());
    let cfn = cfn_components(&rendered, "golden-ami-windows2022");
    assert!(
        cfn[0].contains(":aws:component/update-windows/x.x.x"),
        "{cfn:?}"
    );
    let tf = tf_components(&rendered, "golden-ami-windows2022");
    assert!(
        tf[0].contains(":aws:component/update-windows/x.x.x"),
        "{tf:?}"
    );
    assert!(cfn.iter().chain(&tf).all(|c| !c.contains("update-linux")));
}

/// Both the CloudFormation and the Terraform pipeline of `image` start on `expected`.
fn assert_start_condition(rendered: &Rendered, image: &str, expected: &str) {
    assert_eq!(cfn_start_condition(rendered, image), expected, "{image}");
    assert_eq!(tf_start_condition(rendered, image), expected, "{image}");
}

#[test]
fn golden_pipelines_build_on_every_run_by_default() {
    // The seed sets `start_condition: dependency_updates`; without it the defaults apply.
    let dir = seed_copy(|text| text.replace("  start_condition: dependency_updates\n", ""));
    let rendered = render_all(dir.path());
    for image in GOLDEN {
        assert_start_condition(&rendered, image, "EXPRESSION_MATCH_ONLY");
    }
    for image in CUSTOMIZED {
        let expected = "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE";
        assert_start_condition(&rendered, image, expected);
    }
}

#[test]
fn golden_pipelines_without_a_schedule_rebuild_daily() {
    let dir = seed_copy(|text| {
        text.replace(
            "schedule:\n  cron: cron(0 9 1 * ? *)\n  start_condition: dependency_updates\n",
            "",
        )
    });
    let rendered = render_all(dir.path());
    for image in GOLDEN {
        let t = template(&rendered, image);
        let schedule = &t["Resources"]["ImagePipeline"]["Properties"]["Schedule"];
        assert_eq!(
            schedule["ScheduleExpression"].as_str(),
            Some("cron(0 9 * * ? *)"),
            "{image}"
        );
        assert_eq!(
            schedule["PipelineExecutionStartCondition"].as_str(),
            Some("EXPRESSION_MATCH_ONLY")
        );
    }
    for image in CUSTOMIZED {
        let t = template(&rendered, image);
        let schedule = &t["Resources"]["ImagePipeline"]["Properties"]["Schedule"];
        assert_eq!(
            schedule["ScheduleExpression"].as_str(),
            Some("cron(0 9 1 * ? *)"),
            "{image}"
        );
    }
}

#[test]
fn the_project_start_condition_still_decides() {
    // The seed says `dependency_updates`: golden pipelines follow it too.
    let rendered = render_seed();
    for image in GOLDEN.iter().chain(CUSTOMIZED) {
        assert_eq!(
            cfn_start_condition(&rendered, image),
            "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE",
            "{image}"
        );
    }
    let dir = seed_copy(|text| {
        text.replace(
            "start_condition: dependency_updates",
            "start_condition: always",
        )
    });
    let rendered = render_all(dir.path());
    for image in GOLDEN.iter().chain(CUSTOMIZED) {
        assert_start_condition(&rendered, image, "EXPRESSION_MATCH_ONLY");
    }
}

#[test]
fn golden_amis_publish_their_id_to_ssm() {
    let rendered = render_seed();
    let t = template(&rendered, "golden-ami-amazonlinux2023");
    // Below `/imagebuilder/`: the only parameters Image Builder's service-linked role may
    // write (AWS managed policy `AWSServiceRoleForImageBuilder`).
    let name = "/imagebuilder/docker-image-4codebuild/golden/golden-ami-amazonlinux2023/ami-id";
    for distribution in t["Resources"]["DistributionConfiguration"]["Properties"]["Distributions"]
        .as_array()
        .expect("distributions")
    {
        let ssm = &distribution["SsmParameterConfigurations"][0];
        assert_eq!(ssm["ParameterName"].as_str(), Some(name));
        assert_eq!(ssm["DataType"].as_str(), Some("aws:ec2:image"));
    }
    assert_eq!(
        t["Outputs"]["GoldenAmiParameterName"]["Value"].as_str(),
        Some(name)
    );
    let tf = contents(
        &rendered,
        "terraform/imagebuilder-golden-ami-amazonlinux2023.tf",
    );
    assert!(tf.contains("ssm_parameter_configuration {"), "{tf}");
    assert!(
        tf.contains(
            "\"/imagebuilder/${var.name_prefix}/golden/golden-ami-amazonlinux2023/ami-id\""
        ),
        "{tf}"
    );
    let outputs = contents(&rendered, "terraform/outputs.tf");
    assert!(outputs.contains("golden_ami_parameters"), "{outputs}");
    assert!(outputs.contains("golden_repository_urls"), "{outputs}");
    // Customized AMIs publish nothing; golden containers name their repository instead.
    let tooling = template(&rendered, "tooling-ami");
    assert!(tooling["Outputs"]["GoldenAmiParameterName"].is_null());
    assert!(
        !contents(&rendered, "cloudformation/tooling-ami/template.yaml")
            .contains("SsmParameterConfigurations")
    );
    let container = template(&rendered, "golden-container-ubuntu2204");
    assert!(container["Outputs"]["GoldenImageRepositoryUri"].is_object());
    assert!(
        template(&rendered, "customer-container")["Outputs"]["GoldenImageRepositoryUri"].is_null()
    );
}
