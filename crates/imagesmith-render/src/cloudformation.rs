//! CloudFormation: one EC2 Image Builder stack per image, with a parameters file and a README.
//!
//! Container stacks are at parity with the AWS sample "EC2 Image Builder pipeline for
//! container images" (log bucket with a selectable deletion policy, immutable ECR repository
//! with scan on push, instance role and profile, infrastructure with optional subnet and
//! security groups, components, container recipe, distribution, scheduled pipeline and an
//! image built at stack creation). AMI stacks add block devices, AMI distribution with
//! sharing, image tests and scanning, and a lifecycle policy. Every stack reports failed
//! builds through an EventBridge rule, a CloudWatch alarm and an SNS topic.

use crate::awstoe::DocKind;
use crate::common::{
    golden_ami_parameter, header, image_builder_cron, platform, start_condition, timezone, Input,
};
use crate::pipeline::{pipeline, ParentImage, Pipeline, RecipeComponent};
use crate::{yaml, Rendered};
use imagesmith_model::ImageType;
use imagesmith_plan::Role;
use serde_json::{json, Map, Value};

/// CloudFormation's limit on a component's inline `Data`.
const DATA_LIMIT: usize = 16_000;

fn r(name: &str) -> Value {
    json!({ "Ref": name })
}

fn sub(text: impl Into<String>) -> Value {
    json!({ "Fn::Sub": text.into() })
}

fn arn(logical: &str) -> Value {
    json!({ "Fn::GetAtt": [logical, "Arn"] })
}

fn no_value() -> Value {
    r("AWS::NoValue")
}

fn when(condition: &str, value: Value) -> Value {
    json!({ "Fn::If": [condition, value, no_value()] })
}

fn tags(input: &Input<'_>, p: &Pipeline<'_>) -> Value {
    json!({
        "imagesmith:project": input.name(),
        "imagesmith:image": p.image.name,
        "imagesmith:role": match p.image.role { Role::Golden => "golden", Role::Customized => "customized" },
    })
}

/// Writes every stack.
pub(crate) fn render(input: &Input<'_>, rendered: &mut Rendered) {
    for (index, image) in input.plan.images.iter().enumerate() {
        let Ok(p) = pipeline(input, index, image) else {
            rendered.note(
                format!("cloudformation/{}", image.name),
                format!(
                    "Image `{}`: no Image Builder parent could be found; no stack was rendered",
                    image.name
                ),
            );
            continue;
        };
        let folder = format!("cloudformation/{}", image.name);
        let template = template(input, &p, &folder, rendered);
        let mut text = yaml::comment(&header(
            &format!(
                "EC2 Image Builder {} pipeline for {} image `{}` (recipe version {})",
                match image.image_type {
                    ImageType::Container => "container",
                    ImageType::Ami => "AMI",
                },
                match image.role {
                    Role::Golden => "golden",
                    Role::Customized => "customized",
                },
                image.name,
                p.recipe_version
            ),
            &input.image_sources(image),
        ));
        text.push_str(&yaml::to_string(&template));
        let size = text.len();
        rendered.push(format!("{folder}/template.yaml"), text);
        rendered.push(
            format!("{folder}/parameters.json"),
            parameters_file(input, &p),
        );
        rendered.push(
            format!("{folder}/README.md"),
            readme(input, &p, &folder, size),
        );
    }
}

fn parameters(input: &Input<'_>, p: &Pipeline<'_>) -> Map<String, Value> {
    let mut params = Map::new();
    let container = p.image.image_type == ImageType::Container;
    params.insert(
        "InstanceTypes".into(),
        json!({
            "Type": "CommaDelimitedList",
            "Description": "Instance types to build and test on, one or more; Image Builder picks one that is available",
            "Default": if container { "m5.large,m5a.large" } else if p.image.os.family == imagesmith_model::OsFamily::Windows { "m5.xlarge,m5a.xlarge" } else { "m5.large,m5a.large" },
        }),
    );
    params.insert(
        "SubnetId".into(),
        json!({
            "Type": "String",
            "Description": "Subnet to build in; empty uses the default VPC",
            "Default": "",
        }),
    );
    params.insert(
        "SecurityGroupIds".into(),
        json!({
            "Type": "CommaDelimitedList",
            "Description": "Security groups of the build instance (needed with SubnetId); empty uses the default",
            "Default": "",
        }),
    );
    params.insert(
        "LogBucketDeletionPolicy".into(),
        json!({
            "Type": "String",
            "Description": "What happens to the log bucket when the stack is deleted; Delete needs it emptied first",
            "AllowedValues": ["Delete", "Retain"],
            "Default": "Retain",
        }),
    );
    params.insert(
        "PipelineStatus".into(),
        json!({
            "Type": "String",
            "Description": "Whether the schedule runs the pipeline",
            "AllowedValues": ["ENABLED", "DISABLED"],
            "Default": "ENABLED",
        }),
    );
    params.insert(
        "NotificationEmail".into(),
        json!({
            "Type": "String",
            "Description": "Email address told about failed builds; empty subscribes nobody",
            "Default": "",
        }),
    );
    if container {
        params.insert(
            "ContainerTags".into(),
            json!({
                "Type": "CommaDelimitedList",
                "Description": "Extra tags of each pushed image; empty tags it with the build version (1.0.123-1), which an IMMUTABLE repository needs to accept every run",
                "Default": "",
            }),
        );
        params.insert(
            "BuildImageOnCreate".into(),
            json!({
                "Type": "String",
                "Description": "Build an image when the stack is created (AWS::ImageBuilder::Image)",
                "AllowedValues": ["true", "false"],
                "Default": "true",
            }),
        );
    } else {
        params.insert(
            "SharedAccountIds".into(),
            json!({
                "Type": "CommaDelimitedList",
                "Description": "AWS accounts the AMI is shared with; empty shares with none",
                "Default": "",
            }),
        );
        params.insert(
            "RetainedImages".into(),
            json!({
                "Type": "Number",
                "Description": "How many of the newest AMIs the lifecycle policy keeps",
                "Default": 5,
                "MinValue": 1,
                "MaxValue": 1000,
            }),
        );
    }
    let _ = input;
    params
}

fn conditions(p: &Pipeline<'_>) -> Map<String, Value> {
    let mut conditions = Map::new();
    let not_empty_list =
        |name: &str| json!({ "Fn::Not": [{ "Fn::Equals": [{ "Fn::Join": ["", r(name)] }, ""] }] });
    conditions.insert(
        "HasSubnet".into(),
        json!({ "Fn::Not": [{ "Fn::Equals": [r("SubnetId"), ""] }] }),
    );
    conditions.insert(
        "HasSecurityGroups".into(),
        not_empty_list("SecurityGroupIds"),
    );
    conditions.insert(
        "HasNotificationEmail".into(),
        json!({ "Fn::Not": [{ "Fn::Equals": [r("NotificationEmail"), ""] }] }),
    );
    if p.image.image_type == ImageType::Container {
        conditions.insert("HasContainerTags".into(), not_empty_list("ContainerTags"));
        conditions.insert(
            "BuildImage".into(),
            json!({ "Fn::Equals": [r("BuildImageOnCreate"), "true"] }),
        );
    } else {
        conditions.insert(
            "HasSharedAccounts".into(),
            not_empty_list("SharedAccountIds"),
        );
    }
    conditions
}

fn parent_value(p: &Pipeline<'_>) -> Value {
    match &p.parent {
        ParentImage::Literal(text) => json!(text),
        ParentImage::Template(text) => sub(
            text.replace("{region}", "${AWS::Region}")
                .replace("{partition}", "${AWS::Partition}")
                .replace("arn:aws:", "arn:${AWS::Partition}:"),
        ),
        ParentImage::Golden(name) => sub(format!(
            "arn:${{AWS::Partition}}:imagebuilder:${{AWS::Region}}:${{AWS::AccountId}}:image/{name}/x.x.x"
        )),
    }
}

fn template(input: &Input<'_>, p: &Pipeline<'_>, folder: &str, rendered: &mut Rendered) -> Value {
    let container = p.image.image_type == ImageType::Container;
    let golden = p.image.role == Role::Golden;
    let mut resources = Map::new();
    let tags = tags(input, p);

    resources.insert(
        "LogBucket".into(),
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": r("LogBucketDeletionPolicy"),
            "UpdateReplacePolicy": r("LogBucketDeletionPolicy"),
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true,
                    "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true,
                    "RestrictPublicBuckets": true,
                },
                "LifecycleConfiguration": {
                    "Rules": [{ "Id": "ExpireBuildLogs", "Status": "Enabled", "ExpirationInDays": 90 }]
                },
            },
        }),
    );
    if let (true, Some(repository)) = (container, &p.repository) {
        let mut properties = json!({
            "RepositoryName": repository,
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": { "ScanOnPush": true },
            "EncryptionConfiguration": { "EncryptionType": "AES256" },
        });
        // `registry.lifecycle` and the cross-account pull of `registry.pull_accounts` and
        // `registry.pull_organization`; none of them without the project's say.
        if let Some(policy) = input.ecr_lifecycle_policy() {
            properties["LifecyclePolicy"] = json!({ "LifecyclePolicyText": policy.to_string() });
        }
        if let Some(policy) = input.ecr_pull_policy() {
            properties["RepositoryPolicyText"] = policy;
        }
        resources.insert(
            "Repository".into(),
            json!({ "Type": "AWS::ECR::Repository", "Properties": properties }),
        );
    }
    let instance_policy = if container {
        "EC2InstanceProfileForImageBuilderECRContainerBuilds"
    } else {
        "EC2InstanceProfileForImageBuilder"
    };
    resources.insert(
        "InstanceRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": format!("Build and test instances of {}", p.name),
                "Path": "/executionServiceEC2Role/",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": sub("ec2.${AWS::URLSuffix}") },
                        "Action": "sts:AssumeRole",
                    }],
                },
                "ManagedPolicyArns": [
                    sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"),
                    sub(format!("arn:${{AWS::Partition}}:iam::aws:policy/{instance_policy}")),
                ],
            },
        }),
    );
    resources.insert(
        "InstanceRoleLoggingPolicy".into(),
        json!({
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "ImageBuilderLogs",
                "Roles": [r("InstanceRole")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": ["s3:PutObject"],
                        "Resource": [sub("${LogBucket.Arn}/*")],
                    }],
                },
            },
        }),
    );
    if !p.secret_ids.is_empty() {
        let arns: Vec<Value> = p
            .secret_ids
            .iter()
            .map(|id| {
                sub(format!(
                    "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{id}-*"
                ))
            })
            .collect();
        resources.insert(
            "InstanceRoleSecretsPolicy".into(),
            json!({
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "ImageBuilderComponentSecrets",
                    "Roles": [r("InstanceRole")],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": ["secretsmanager:GetSecretValue"],
                            "Resource": arns,
                        }],
                    },
                },
            }),
        );
    }
    resources.insert(
        "InstanceProfile".into(),
        json!({
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": { "Path": "/executionServiceEC2Role/", "Roles": [r("InstanceRole")] },
        }),
    );
    notifications(input, p, &mut resources);
    resources.insert(
        "InfrastructureConfiguration".into(),
        json!({
            "Type": "AWS::ImageBuilder::InfrastructureConfiguration",
            "Properties": {
                "Name": format!("{}-infrastructure", p.name),
                "Description": format!("Build and test instances of {}", p.name),
                "InstanceProfileName": r("InstanceProfile"),
                "InstanceTypes": r("InstanceTypes"),
                "SubnetId": when("HasSubnet", r("SubnetId")),
                "SecurityGroupIds": when("HasSecurityGroups", r("SecurityGroupIds")),
                "TerminateInstanceOnFailure": true,
                "InstanceMetadataOptions": { "HttpTokens": "required", "HttpPutResponseHopLimit": 2 },
                "Logging": { "S3Logs": { "S3BucketName": r("LogBucket"), "S3KeyPrefix": p.name } },
                "SnsTopicArn": r("NotificationTopic"),
                "Tags": tags,
            },
        }),
    );
    let mut component_refs: Vec<Value> = Vec::new();
    for component in &p.components {
        match component {
            RecipeComponent::Managed { name } => component_refs.push(json!({
                "ComponentArn": sub(format!(
                    "arn:${{AWS::Partition}}:imagebuilder:${{AWS::Region}}:aws:component/{name}/x.x.x"
                )),
            })),
            RecipeComponent::Own { doc, logical } => {
                let doc = &input.docs[*doc];
                let data = doc.text();
                if data.len() > DATA_LIMIT {
                    rendered.note(
                        format!("{folder}/template.yaml"),
                        format!(
                            "Component `{}`: its document is {} characters, over CloudFormation's inline limit of {DATA_LIMIT}; upload {} to S3 and use `Uri` instead",
                            doc.component,
                            data.len(),
                            doc.path
                        ),
                    );
                }
                let id = format!("Component{logical}");
                let description = match doc.kind {
                    DocKind::Component => format!("{} {}: {}", doc.component, doc.version, doc.description),
                    _ => doc.description.clone(),
                };
                resources.insert(
                    id.clone(),
                    json!({
                        "Type": "AWS::ImageBuilder::Component",
                        "Properties": {
                            "Name": format!("{}-{}", p.name, doc.stem().replace(['_', '.'], "-")),
                            "Version": doc.image_builder_version,
                            "Platform": platform(doc.family),
                            "Description": truncate(&description, 1024),
                            "ChangeDescription": format!("imagesmith content version {}", doc.image_builder_version),
                            "Data": data,
                            "Tags": tags,
                        },
                    }),
                );
                component_refs.push(json!({ "ComponentArn": r(&id) }));
            }
        }
    }
    let description = p
        .image
        .description
        .clone()
        .unwrap_or_else(|| format!("{} image {}", p.image.image_type.as_str(), p.image.name));
    if container {
        let mut recipe = json!({
            "Name": p.name,
            "Version": p.recipe_version,
            "Description": truncate(&description, 1024),
            "ParentImage": parent_value(p),
            "ContainerType": "DOCKER",
            "Components": component_refs,
            "DockerfileTemplateData": p.dockerfile_template.clone().unwrap_or_default(),
            "TargetRepository": { "Service": "ECR", "RepositoryName": r("Repository") },
            "WorkingDirectory": "/tmp",
            "Tags": tags,
        });
        if p.platform_override {
            recipe["PlatformOverride"] = json!(platform(p.image.os.family));
        }
        resources.insert(
            "ContainerRecipe".into(),
            json!({ "Type": "AWS::ImageBuilder::ContainerRecipe", "Properties": recipe }),
        );
        resources.insert(
            "DistributionConfiguration".into(),
            json!({
                "Type": "AWS::ImageBuilder::DistributionConfiguration",
                "Properties": {
                    "Name": format!("{}-distribution", p.name),
                    "Description": format!("Push {} to its ECR repository", p.image.name),
                    "Distributions": [{
                        "Region": r("AWS::Region"),
                        "ContainerDistributionConfiguration": {
                            "Description": truncate(&description, 1024),
                            "ContainerTags": when("HasContainerTags", r("ContainerTags")),
                            "TargetRepository": { "Service": "ECR", "RepositoryName": r("Repository") },
                        },
                    }],
                    "Tags": tags,
                },
            }),
        );
    } else {
        let mut recipe = json!({
            "Name": p.name,
            "Version": p.recipe_version,
            "Description": truncate(&description, 1024),
            "ParentImage": parent_value(p),
            "Components": component_refs,
            "WorkingDirectory": "/tmp",
            "AdditionalInstanceConfiguration": {
                "SystemsManagerAgent": { "UninstallAfterBuild": false },
            },
            "Tags": tags,
        });
        if let Some((device, size)) = &p.root_device {
            recipe["BlockDeviceMappings"] = json!([{
                "DeviceName": device,
                "Ebs": {
                    "DeleteOnTermination": true,
                    "Encrypted": true,
                    "VolumeSize": size,
                    "VolumeType": "gp3",
                },
            }]);
        }
        resources.insert(
            "ImageRecipe".into(),
            json!({ "Type": "AWS::ImageBuilder::ImageRecipe", "Properties": recipe }),
        );
        let mut regions: Vec<Value> = vec![r("AWS::Region")];
        for region in &input.options.distribution_regions {
            regions.push(json!(region));
        }
        let distributions: Vec<Value> = regions
            .into_iter()
            .map(|region| {
                let mut distribution = json!({
                    "Region": region,
                    "AmiDistributionConfiguration": {
                        "Name": format!("{}-{{{{ imagebuilder:buildDate }}}}", p.name),
                        "Description": truncate(&description, 1024),
                        "AmiTags": {
                            "imagesmith:project": input.name(),
                            "imagesmith:image": p.image.name,
                            "imagesmith:recipe-version": p.recipe_version,
                            "imagesmith:components": p.image.components.iter().map(|c| format!("{}={}", c.name, c.version)).collect::<Vec<_>>().join(" "),
                        },
                        "LaunchPermissionConfiguration": when(
                            "HasSharedAccounts",
                            json!({ "UserIds": r("SharedAccountIds") }),
                        ),
                    },
                });
                if golden {
                    // Each Region's parameter names that Region's newest golden AMI.
                    distribution["SsmParameterConfigurations"] = json!([{
                        "ParameterName": golden_ami_parameter(input, p.image),
                        "DataType": "aws:ec2:image",
                    }]);
                }
                distribution
            })
            .collect();
        resources.insert(
            "DistributionConfiguration".into(),
            json!({
                "Type": "AWS::ImageBuilder::DistributionConfiguration",
                "Properties": {
                    "Name": format!("{}-distribution", p.name),
                    "Description": format!("Distribute the {} AMI", p.image.name),
                    "Distributions": distributions,
                    "Tags": tags,
                },
            }),
        );
        lifecycle(p, &mut resources);
    }
    let recipe_key = if container {
        "ContainerRecipeArn"
    } else {
        "ImageRecipeArn"
    };
    let recipe_ref = r(if container {
        "ContainerRecipe"
    } else {
        "ImageRecipe"
    });
    let mut scanning = json!({ "ImageScanningEnabled": true });
    if container {
        scanning["EcrConfiguration"] = json!({ "RepositoryName": r("Repository") });
    }
    let mut pipeline_properties = json!({
        "Name": p.name,
        "Description": truncate(&description, 1024),
        "InfrastructureConfigurationArn": r("InfrastructureConfiguration"),
        "DistributionConfigurationArn": r("DistributionConfiguration"),
        "ImageTestsConfiguration": { "ImageTestsEnabled": true, "TimeoutMinutes": 90 },
        "ImageScanningConfiguration": scanning,
        "EnhancedImageMetadataEnabled": true,
        "Schedule": {
            "ScheduleExpression": image_builder_cron(input.project(), p.image.role),
            "PipelineExecutionStartCondition": start_condition(input.project(), p.image.role),
            "Timezone": timezone(input.project()),
        },
        "Status": r("PipelineStatus"),
        "Tags": tags,
    });
    pipeline_properties[recipe_key] = recipe_ref.clone();
    resources.insert(
        "ImagePipeline".into(),
        json!({ "Type": "AWS::ImageBuilder::ImagePipeline", "Properties": pipeline_properties }),
    );
    if container {
        let mut image = json!({
            "InfrastructureConfigurationArn": r("InfrastructureConfiguration"),
            "DistributionConfigurationArn": r("DistributionConfiguration"),
            "ImageTestsConfiguration": { "ImageTestsEnabled": true, "TimeoutMinutes": 90 },
            "EnhancedImageMetadataEnabled": true,
            "Tags": tags,
        });
        image[recipe_key] = recipe_ref;
        resources.insert(
            "Image".into(),
            json!({ "Type": "AWS::ImageBuilder::Image", "Condition": "BuildImage", "Properties": image }),
        );
    }

    let mut outputs = Map::new();
    outputs.insert(
        "ImagePipelineArn".into(),
        json!({ "Description": "The image pipeline", "Value": r("ImagePipeline") }),
    );
    outputs.insert(
        "NotificationTopicArn".into(),
        json!({ "Description": "Topic told about failed builds", "Value": r("NotificationTopic") }),
    );
    outputs.insert(
        "LogBucketName".into(),
        json!({ "Description": "Build and test logs", "Value": r("LogBucket") }),
    );
    if golden && !container {
        outputs.insert(
            "GoldenAmiParameterName".into(),
            json!({
                "Description": "SSM parameter naming the newest golden AMI (in each distribution Region)",
                "Value": golden_ami_parameter(input, p.image),
            }),
        );
    }
    if container {
        outputs.insert(
            "RepositoryUri".into(),
            json!({ "Description": "Where images are pushed", "Value": { "Fn::GetAtt": ["Repository", "RepositoryUri"] } }),
        );
        if golden {
            // The digest of each build is published by `imagesmith publish`.
            outputs.insert(
                "GoldenImageRepositoryUri".into(),
                json!({
                    "Description": "ECR repository of the golden container image",
                    "Value": { "Fn::GetAtt": ["Repository", "RepositoryUri"] },
                }),
            );
        }
        outputs.insert(
            "ImageArn".into(),
            json!({ "Condition": "BuildImage", "Description": "The image built at stack creation", "Value": r("Image") }),
        );
    }

    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::LanguageExtensions",
        "Description": truncate(&format!(
            "imagesmith: EC2 Image Builder pipeline for {} ({} {} on {}), recipe version {}",
            p.image.name,
            match p.image.role { Role::Golden => "golden", Role::Customized => "customized" },
            p.image.image_type.as_str(),
            p.image.os.name,
            p.recipe_version
        ), 1024),
        "Parameters": parameters(input, p),
        "Conditions": conditions(p),
        "Resources": resources,
        "Outputs": outputs,
    })
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The SNS topic, its policy and email subscription, the EventBridge rule on failed builds
/// and the CloudWatch alarm on that rule.
fn notifications(input: &Input<'_>, p: &Pipeline<'_>, resources: &mut Map<String, Value>) {
    resources.insert(
        "NotificationTopic".into(),
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": format!("imagesmith {}", p.image.name),
                "Tags": [
                    { "Key": "imagesmith:project", "Value": input.name() },
                    { "Key": "imagesmith:image", "Value": p.image.name },
                ],
            },
        }),
    );
    resources.insert(
        "NotificationTopicPolicy".into(),
        json!({
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [r("NotificationTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "EventBridgePublishesFailedBuilds",
                        "Effect": "Allow",
                        "Principal": { "Service": "events.amazonaws.com" },
                        "Action": "sns:Publish",
                        "Resource": r("NotificationTopic"),
                        // Only this stack's rule may publish (confused deputy otherwise).
                        "Condition": {
                            "ArnEquals": {
                                "aws:SourceArn": arn("FailedBuildRule"),
                            },
                        },
                    }],
                },
            },
        }),
    );
    resources.insert(
        "NotificationSubscription".into(),
        json!({
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotificationEmail",
            "Properties": {
                "TopicArn": r("NotificationTopic"),
                "Protocol": "email",
                "Endpoint": r("NotificationEmail"),
            },
        }),
    );
    resources.insert(
        "FailedBuildRule".into(),
        json!({
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": format!("Failed builds of {}", p.name),
                "State": "ENABLED",
                "EventPattern": {
                    "source": ["aws.imagebuilder"],
                    "detail-type": ["EC2 Image Builder Image State Change"],
                    "resources": [{ "prefix": sub(format!(
                        "arn:${{AWS::Partition}}:imagebuilder:${{AWS::Region}}:${{AWS::AccountId}}:image/{}/", p.name
                    )) }],
                    "detail": { "state": { "status": ["FAILED"] } },
                },
                "Targets": [{ "Arn": r("NotificationTopic"), "Id": "NotificationTopic" }],
            },
        }),
    );
    resources.insert(
        "FailedBuildAlarm".into(),
        json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": format!("A build of the {} pipeline failed; its logs are in the stack's log bucket", p.name),
                "Namespace": "AWS/Events",
                "MetricName": "TriggeredRules",
                "Dimensions": [{ "Name": "RuleName", "Value": r("FailedBuildRule") }],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [r("NotificationTopic")],
            },
        }),
    );
}

/// Keeps the newest AMIs of the recipe (and their snapshots), deletes older ones.
fn lifecycle(p: &Pipeline<'_>, resources: &mut Map<String, Value>) {
    resources.insert(
        "LifecycleRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": format!("Image Builder lifecycle policy of {}", p.name),
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": "imagebuilder.amazonaws.com" },
                        "Action": "sts:AssumeRole",
                    }],
                },
                "ManagedPolicyArns": [sub(
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy"
                )],
            },
        }),
    );
    resources.insert(
        "LifecyclePolicy".into(),
        json!({
            "Type": "AWS::ImageBuilder::LifecyclePolicy",
            "Properties": {
                "Name": format!("{}-retention", p.name),
                "Description": format!("Keep the newest AMIs of {}", p.name),
                "ExecutionRole": arn("LifecycleRole"),
                "ResourceType": "AMI_IMAGE",
                "Status": "ENABLED",
                "PolicyDetails": [{
                    "Action": {
                        "Type": "DELETE",
                        "IncludeResources": { "Amis": true, "Snapshots": true },
                    },
                    "Filter": { "Type": "COUNT", "Value": r("RetainedImages") },
                }],
                // Image Builder takes no wildcard here (`x.x.x` is refused): the policy
                // names the recipe version this stack deploys
                "ResourceSelection": {
                    "Recipes": [{ "Name": p.name, "SemanticVersion": p.recipe_version }],
                },
            },
        }),
    );
}

fn parameters_file(input: &Input<'_>, p: &Pipeline<'_>) -> String {
    let mut list = vec![
        json!({ "ParameterKey": "InstanceTypes", "ParameterValue": if p.image.os.family == imagesmith_model::OsFamily::Windows && p.image.image_type == ImageType::Ami { "m5.xlarge,m5a.xlarge" } else { "m5.large,m5a.large" } }),
        json!({ "ParameterKey": "SubnetId", "ParameterValue": "" }),
        json!({ "ParameterKey": "SecurityGroupIds", "ParameterValue": "" }),
        json!({ "ParameterKey": "LogBucketDeletionPolicy", "ParameterValue": "Retain" }),
        json!({ "ParameterKey": "PipelineStatus", "ParameterValue": "ENABLED" }),
        json!({ "ParameterKey": "NotificationEmail", "ParameterValue": "" }),
    ];
    if p.image.image_type == ImageType::Container {
        list.push(json!({ "ParameterKey": "ContainerTags", "ParameterValue": "" }));
        list.push(json!({ "ParameterKey": "BuildImageOnCreate", "ParameterValue": "true" }));
    } else {
        list.push(json!({ "ParameterKey": "SharedAccountIds", "ParameterValue": "" }));
        list.push(json!({ "ParameterKey": "RetainedImages", "ParameterValue": "5" }));
    }
    let _ = input;
    let mut text = serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default();
    text.push('\n');
    text
}

/// CloudFormation's limit on a template passed inline (`--template-body`), in bytes.
const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// The README of a stack; `size` is the length of its `template.yaml` in bytes.
fn readme(input: &Input<'_>, p: &Pipeline<'_>, folder: &str, size: usize) -> String {
    let stack = crate::common::cloudformation_stack(input, p.image);
    let region = input.region();
    let container = p.image.image_type == ImageType::Container;
    let mut text = String::new();
    text.push_str("<!--\n");
    for line in header(
        &format!("README of the Image Builder stack for `{}`", p.image.name),
        &input.image_sources(p.image),
    ) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str("-->\n");
    text.push_str(&format!(
        "# EC2 Image Builder pipeline: `{}`\n\n",
        p.image.name
    ));
    text.push_str(&format!(
        "`template.yaml` builds the {} {} image `{}` on {} with EC2 Image Builder. `parameters.json`\nholds the stack parameters (JSON has no comments: this README names the inputs above).\n\n",
        match p.image.role { Role::Golden => "golden", Role::Customized => "customized" },
        if container { "container" } else { "AMI" },
        p.image.name,
        p.image.os.name
    ));
    text.push_str("## Components\n\n| Component | Version | Image Builder version | Document |\n|---|---|---|---|\n");
    for component in &p.components {
        match component {
            RecipeComponent::Managed { name } => text.push_str(&format!(
                "| `{name}` (Amazon-managed, {}) | latest | x.x.x | — |\n",
                if name.starts_with("update-") {
                    "installs the pending OS updates"
                } else {
                    "reads secrets"
                }
            )),
            RecipeComponent::Own { doc, .. } => {
                let doc = &input.docs[*doc];
                text.push_str(&format!(
                    "| `{}`{} | {} | {} | `{}` |\n",
                    doc.component,
                    match doc.kind {
                        DocKind::FetchSecrets => " (fetch secrets)",
                        DocKind::DeleteSecrets => " (delete secrets)",
                        DocKind::OsUpdate => " (installs the pending OS updates)",
                        DocKind::Component => "",
                    },
                    doc.version,
                    doc.image_builder_version,
                    doc.path
                ));
            }
        }
    }
    text.push_str(&format!(
        "\nThe recipe's version, `{}`, and every component's version are derived from their content:\nre-rendering unchanged inputs keeps them, a change gives new ones, so a stack update never\ncollides with an existing Image Builder version. The parent image is fixed at render time for the\nsame reason.\n\n",
        p.recipe_version
    ));
    match &p.parent {
        ParentImage::Golden(name) => text.push_str(&format!(
            "The parent is the newest image of the golden pipeline `{name}` (`x.x.x`): deploy that stack\nfirst. A golden rebuild is picked up by the next scheduled run.\n\n"
        )),
        other => text.push_str(&format!("The parent is `{}`.\n\n", other.describe())),
    }
    if p.image.role == Role::Golden && !container {
        text.push_str(&format!(
            "Each distribution writes the new AMI's id to the SSM parameter `{}`. Image Builder's\nservice-linked role writes it; its AWS managed policy `AWSServiceRoleForImageBuilder` allows\n`ssm:PutParameter` below `parameter/imagebuilder/` only, so the name is there and the stack needs\nno IAM for it.\n\n",
            golden_ami_parameter(input, p.image)
        ));
    }
    if !p.secret_ids.is_empty() {
        text.push_str("## Secrets\n\nBefore the stack can build, create these AWS Secrets Manager secrets (the instance role may\nread only these; the values are fetched into `/run/secrets/<name>` just before the component that\nneeds them and deleted right after it):\n\n");
        for id in &p.secret_ids {
            text.push_str(&format!("- `{id}`\n"));
        }
        text.push('\n');
    }
    text.push_str("## Deploy\n\n");
    // A template over the inline limit is refused by `--template-body` ("Member must have
    // length less than or equal to 51200"): it goes through S3 (`--template-url`).
    let template = if size > INLINE_TEMPLATE_LIMIT {
        text.push_str(&format!(
            "`template.yaml` is over CloudFormation's 51,200-byte limit for an inline\ntemplate, so it is uploaded to an S3 bucket of yours in {region} first (`TEMPLATE_BUCKET`; the\nworkflow `deploy-infra.yml` uses the repository variable `CLOUDFORMATION_TEMPLATE_BUCKET`).\nFrom this folder:\n\n```sh\naws s3 cp template.yaml \"s3://$TEMPLATE_BUCKET/{stack}/template.yaml\" --region {region}\n"
        ));
        format!("--template-url \"https://$TEMPLATE_BUCKET.s3.{region}.amazonaws.com/{stack}/template.yaml\"")
    } else {
        text.push_str("From this folder:\n\n```sh\n");
        String::from("--template-body file://template.yaml")
    };
    text.push_str(&format!(
        "aws cloudformation create-stack \\\n  --stack-name {stack} \\\n  {template} \\\n  --parameters file://parameters.json \\\n  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \\\n  --region {region}\naws cloudformation wait stack-create-complete --stack-name {stack} --region {region}\n```\n\n"
    ));
    text.push_str("`CAPABILITY_AUTO_EXPAND` is needed for the `AWS::LanguageExtensions` transform, which lets the\n`LogBucketDeletionPolicy` parameter choose the bucket's deletion policy (`Retain` by default).\n");
    if container {
        text.push_str("With `BuildImageOnCreate=true` the stack also builds one image; creation takes 15–20 minutes\nand the `AWS::ImageBuilder::Image` resource stays `CREATE_IN_PROGRESS` until the build ends.\n");
    }
    text.push_str("\nA failed build sends an email to `NotificationEmail` (when set) through the `NotificationTopic`\nSNS topic, and raises the `FailedBuildAlarm` CloudWatch alarm.\n\n");
    text.push_str("## Troubleshooting\n\nThe stack's `Events` tab names failed resources. Build and test logs are in the log bucket under\n");
    text.push_str(&format!(
        "`{}/`; SSM Automation shows the steps Image Builder took.\n\n",
        p.name
    ));
    text.push_str("## Clean up\n\n");
    if container {
        text.push_str(&format!(
            "1. Delete the images in the ECR repository `{}` (a non-empty repository fails the stack\n   deletion):\n   `aws ecr batch-delete-image --repository-name {} --region {region} --image-ids \"$(aws ecr list-images --repository-name {} --region {region} --query 'imageIds[*]' --output json)\"`\n",
            p.repository.clone().unwrap_or_default(),
            p.repository.clone().unwrap_or_default(),
            p.repository.clone().unwrap_or_default()
        ));
    } else {
        text.push_str("1. Deregister the AMIs the pipeline made if you no longer need them (the lifecycle policy only\n   keeps the newest `RetainedImages`; deleting the stack leaves existing AMIs in place).\n");
    }
    text.push_str(&format!(
        "2. With `LogBucketDeletionPolicy=Delete`, empty the log bucket first (a non-empty bucket fails the\n   deletion): `aws s3 rm \"s3://$(aws cloudformation describe-stacks --stack-name {stack} --region {region} --query \"Stacks[0].Outputs[?OutputKey=='LogBucketName'].OutputValue\" --output text)\" --recursive`.\n   With `Retain` the bucket is kept and the deletion succeeds.\n3. `aws cloudformation delete-stack --stack-name {stack} --region {region}` and\n   `aws cloudformation wait stack-delete-complete --stack-name {stack} --region {region}`.\n"
    ));
    let _ = folder;
    text
}
