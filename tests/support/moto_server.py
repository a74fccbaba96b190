"""moto's server, with the harness's workarounds for moto gaps that would otherwise make tests
disagree with AWS. Each patch says what AWS does and what moto does instead. The product never
sees this file: it talks to whatever answers at its endpoint.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (same arguments as `python -m moto.server`)
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

from moto.core.config import default_user_config
from moto.core.exceptions import JsonRESTError
from moto.core.responses import BaseResponse
from moto.ecr import models as ecr_models


def _scanning_configuration(self, image_scanning_configuration):
    # AWS (Amazon ECR API Reference, ImageScanningConfiguration, "scanOnPush" defaults to false;
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanningConfiguration.html):
    # PutImageScanningConfiguration with {} (how the Rust SDK encodes scanOnPush=false, the
    # model's default value) turns scanning off. moto 5.2.5 ignores an empty configuration.
    if image_scanning_configuration is not None:
        self.image_scanning_configuration = {"scanOnPush": bool(image_scanning_configuration.get("scanOnPush", False))}


ecr_models.Repository._update_image_scanning_configuration = _scanning_configuration


def _image_size_in_bytes(self):
    # AWS (Amazon ECR API Reference, ImageDetail, imageSizeInBytes: Docker compresses layers
    # before pushing, and DescribeImages reports that size;
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html):
    # imageSizeInBytes is the image's compressed size (its layers and config). moto 5.2.5
    # reports the config blob's size alone, which makes every image look a few hundred bytes.
    manifest = json.loads(self.image_manifest)
    if "layers" not in manifest:
        return None
    return sum(layer.get("size", 0) for layer in manifest["layers"]) + manifest.get("config", {}).get("size", 0)


ecr_models.Image.get_image_size_in_bytes = _image_size_in_bytes


def _subject_manifest_digest(self):
    # AWS (Amazon ECR API Reference, ImageDetail, subjectManifestDigest and artifactMediaType;
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html): an image
    # whose manifest names an OCI 1.1 `subject` is a referrer of that image (a signature, an
    # SBOM, an attestation), and DescribeImages says so. moto 5.2.5 leaves both fields out.
    subject = json.loads(self.image_manifest).get("subject") or {}
    return subject.get("digest")


def _artifact_media_type(self):
    manifest = json.loads(self.image_manifest)
    return manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType")


ecr_models.Image.subject_manifest_digest = property(_subject_manifest_digest)
ecr_models.Image.artifact_media_type = property(_artifact_media_type)

_describe_image_scan_findings = ecr_models.ECRBackend.describe_image_scan_findings


def _latest_scan_findings(self, registry_id, repository_name, image_id):
    # AWS (Amazon ECR API Reference, DescribeImageScanFindings, "returns the scan findings for
    # the specified image";
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImageScanFindings.html):
    # DescribeImageScanFindings answers the image's latest scan. moto 5.2.5 keeps the first
    # custom result it handed an image forever, so a rescan's new findings never show. When newer
    # results for this image wait, forget the one handed out before.
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    waiting = [
        r for r in self.scan_finding_results
        if r["repositoryName"] == repository_name
        and (r["imageId"].get("imageDigest") in (digest, None) or r["imageId"].get("imageTag") == tag)
    ]
    if waiting:
        try:
            repo = self._get_repository(repository_name, registry_id)
            image = repo._get_image(tag, digest)
        except Exception:
            image = None
        if image is not None:
            image.scan_finding_results = {}
            image.scan_finding_results_queue = []
    return _describe_image_scan_findings(self, registry_id, repository_name, image_id)


ecr_models.ECRBackend.describe_image_scan_findings = _latest_scan_findings

# --- Step Functions and Lambda: a state machine from template.yaml runs its real functions ---
#
# AWS runs a state machine's Lambda tasks in Lambda. moto's interpreter executes state machines
# only when its config says so, and invokes Lambda through Docker unless told otherwise; without
# Docker, its simple backend echoes the payload. Here an invoke is forwarded to the harness's
# Lambda emulator (`cargo lambda watch`, KEEPER_LAMBDA_ROUTER), which runs the real binary named
# like the function.
default_user_config["stepfunctions"] = {"execute_state_machine": True}
default_user_config["lambda"] = {"use_docker": False}

from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402  (after the config)

_lock = threading.Lock()
_failures_left = {"shard": int(os.environ.get("KEEPER_HARNESS_FAIL_SHARD_INVOKES", "0") or 0)}


class _ServiceException(JsonRESTError):
    # What Lambda answers when the service itself fails: Step Functions names it
    # Lambda.ServiceException, which the state machine retries.
    code = 500

    def __init__(self, message):
        super().__init__("ServiceException", message)


def _log(kind, line):
    path = os.environ.get("KEEPER_HARNESS_CALL_LOG")
    if path:
        with _lock, open(path, "a") as f:
            f.write(f"{kind} {line}\n")


def _forward_invoke(self, function_name, qualifier, body, headers, response_headers):
    router = os.environ.get("KEEPER_LAMBDA_ROUTER")
    if not router:
        return _simple_invoke(self, function_name, qualifier, body, headers, response_headers)
    name = function_name.split(":function:")[-1].split(":")[0]
    payload = body if isinstance(body, (bytes, bytearray)) else (body or "{}").encode()
    try:
        mode = json.loads(payload).get("mode", "")
    except (ValueError, AttributeError):
        mode = ""
    _log("invoke", f"{name} {mode}")
    with _lock:
        fail = mode == "shard" and _failures_left["shard"] > 0
        if fail:
            _failures_left["shard"] -= 1
    if fail:
        _log("invoke-failed", f"{name} {mode}")
        raise _ServiceException("injected by the harness: the Lambda service failed this invoke")
    if name and name == os.environ.get("KEEPER_HARNESS_FAIL_FUNCTION"):
        # The function itself failing, without running it: Lambda answers such an invoke with
        # status 200, the X-Amz-Function-Error header and the error document as the payload
        # (Lambda API reference, Invoke: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
        _log("invoke-failed", f"{name} {mode}")
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "InjectedByHarness", "errorMessage": f"the harness failed {name}"}).encode()
    request = urllib.request.Request(
        f"{router}/2015-03-31/functions/{name}/invocations", data=payload, method="POST",
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=900) as answer:
            text = answer.read()
            if answer.headers.get("X-Amz-Function-Error"):
                response_headers["x-amz-function-error"] = answer.headers.get("X-Amz-Function-Error")
            return text
    except urllib.error.HTTPError as e:
        # cargo lambda answers a function's error as an HTTP error with the error document.
        response_headers["x-amz-function-error"] = "Unhandled"
        return e.read()
    finally:
        _log("invoke-ms", f"{name} {mode} {(time.monotonic() - started) * 1000:.1f}")


_simple_invoke = LambdaSimpleBackend.invoke
LambdaSimpleBackend.invoke = _forward_invoke


def _no_docker(self):
    # moto's /moto-api/data.json reads every public attribute of every model; a Lambda
    # function's docker_client connects to Docker, which is not here, and fails the whole dump.
    raise AttributeError("no Docker in this harness")


from moto.utilities.docker_utilities import DockerModel  # noqa: E402

DockerModel.docker_client = property(_no_docker)


# --- ECR lifecycle policies: today's grammar, archive storage included ---
# AWS (Amazon ECR User Guide, "Lifecycle policy properties", archive storage since November 2025;
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html, and
# ../shared/reference/ecr-lifecycle.md): an action may be "transition" with targetStorageClass
# "archive"; a selection may name its storageClass ("standard" or "archive") and count
# "sinceImagePulled" (only with transition) or "sinceImageTransitioned" (only with expire, in
# archive, at least 90 days). moto 5.2.5 validates the grammar from before archive and refuses
# every archive rule, so a policy ecr-keeper generates could never be applied here.
from moto.ecr import policy_validation as ecr_policy  # noqa: E402

ecr_policy.VALID_ACTION_PROPERTIES = {"type", "targetStorageClass"}
ecr_policy.VALID_ACTION_TYPE_VALUES = {"expire", "transition"}
ecr_policy.VALID_SELECTION_PROPERTIES = {*ecr_policy.VALID_SELECTION_PROPERTIES, "storageClass"}
ecr_policy.VALID_SELECTION_COUNT_TYPE_VALUES = {
    "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned",
}
_validate_lifecycle = ecr_policy.EcrLifecyclePolicyValidator.validate


def _refuse(self, what):
    raise ecr_policy.InvalidParameterException(self.INVALID_PARAMETER_ERROR_MESSAGE + what + "'")


def _validate_archive_rules(self):
    _validate_lifecycle(self)
    for rule in self._rules:
        action, selection = rule["action"], rule["selection"]
        count_type, storage = selection.get("countType"), selection.get("storageClass", "standard")
        if storage not in ("standard", "archive"):
            _refuse(self, f"instance value ({storage}) not found in enum :(possible values: [\"archive\",\"standard\"])")
        if action["type"] == "transition" and action.get("targetStorageClass") != "archive":
            _refuse(self, "a transition action needs targetStorageClass archive")
        if action["type"] == "expire" and "targetStorageClass" in action:
            _refuse(self, "targetStorageClass is only allowed with a transition action")
        if count_type == "sinceImagePulled" and action["type"] != "transition":
            _refuse(self, "sinceImagePulled is only allowed with a transition action")
        if count_type == "sinceImageTransitioned" and (action["type"] != "expire" or storage != "archive"):
            _refuse(self, "sinceImageTransitioned is only allowed with an expire action on storageClass archive")
        if storage == "archive" and count_type == "sinceImageTransitioned" and selection.get("countNumber", 0) < 90:
            _refuse(self, "archived images are kept 90 days at least (countNumber below 90)")


ecr_policy.EcrLifecyclePolicyValidator.validate = _validate_archive_rules

# --- ECR pull-time update exclusions (2025): not in moto 5.2 ---
# AWS (Amazon ECR User Guide, "Pull-time update exclusions";
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-time-update-exclusions.html):
# ListPullTimeUpdateExclusions lists the principals whose pulls do not refresh
# lastRecordedPullTime; Register/Deregister change the list. moto answers HTTP 500 (which the SDK
# retries for seconds). Kept on the account's ECR backend, so /moto-api/reset clears it.
from moto.ecr.responses import ECRResponse  # noqa: E402


def _exclusions(response):
    backend = response.ecr_backend
    if not hasattr(backend, "pull_time_update_exclusions"):
        backend.pull_time_update_exclusions = []
    return backend.pull_time_update_exclusions


def _list_pull_time_update_exclusions(self):
    return json.dumps({"pullTimeUpdateExclusions": list(_exclusions(self))})


def _register_pull_time_update_exclusion(self):
    arn = self._get_param("principalArn")
    if arn not in _exclusions(self):
        _exclusions(self).append(arn)
    return json.dumps({"principalArn": arn, "registryId": self.current_account})


def _deregister_pull_time_update_exclusion(self):
    arn = self._get_param("principalArn")
    if arn in _exclusions(self):
        _exclusions(self).remove(arn)
    return json.dumps({"principalArn": arn, "registryId": self.current_account})


ECRResponse.list_pull_time_update_exclusions = _list_pull_time_update_exclusions
ECRResponse.register_pull_time_update_exclusion = _register_pull_time_update_exclusion
ECRResponse.deregister_pull_time_update_exclusion = _deregister_pull_time_update_exclusion

# --- ECR repository creation templates and pull-through cache rules: not in moto 5.2 ---
# AWS (Amazon ECR API Reference, CreateRepositoryCreationTemplate,
# DescribeRepositoryCreationTemplates, DeleteRepositoryCreationTemplate and the
# RepositoryCreationTemplate data type:
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepositoryCreationTemplate.html,
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeRepositoryCreationTemplates.html;
# CreatePullThroughCacheRule and DescribePullThroughCacheRules:
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreatePullThroughCacheRule.html,
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribePullThroughCacheRules.html):
# a registry keeps templates by prefix (a namespace or ROOT; appliedFor any of CREATE_ON_PUSH,
# PULL_THROUGH_CACHE, REPLICATION) and pull-through cache rules by ecrRepositoryPrefix; a second
# one with the same prefix is TemplateAlreadyExistsException / PullThroughCacheRuleAlreadyExistsException;
# the describes list them all (one page here). moto 5.2.5 answers every one of these with
# HTTP 500. Only what is stored is modelled: no repository is created on push or by a pull.
class _EcrConflict(JsonRESTError):
    code = 400


_SCENARIOS = {"CREATE_ON_PUSH", "PULL_THROUGH_CACHE", "REPLICATION"}


def _registry_list(response, name):
    backend = response.ecr_backend
    if not hasattr(backend, name):
        setattr(backend, name, [])
    return getattr(backend, name)


def _create_repository_creation_template(self):
    templates = _registry_list(self, "repository_creation_templates")
    prefix = self._get_param("prefix")
    applied_for = self._get_param("appliedFor") or []
    unknown = [a for a in applied_for if a not in _SCENARIOS]
    if not applied_for or unknown:
        raise _EcrConflict("ValidationException", f"appliedFor must name one or more of {sorted(_SCENARIOS)}, found {applied_for}")
    if any(t["prefix"] == prefix for t in templates):
        raise _EcrConflict("TemplateAlreadyExistsException", f"The repository creation template with prefix '{prefix}' already exists")
    now = time.time()
    template = {"prefix": prefix, "appliedFor": applied_for, "createdAt": now, "updatedAt": now}
    for key in ("description", "encryptionConfiguration", "resourceTags", "imageTagMutability", "repositoryPolicy",
                "lifecyclePolicy", "customRoleArn"):
        if self._get_param(key) is not None:
            template[key] = self._get_param(key)
    template.setdefault("imageTagMutability", "MUTABLE")
    templates.append(template)
    return json.dumps({"registryId": self.current_account, "repositoryCreationTemplate": template})


def _describe_repository_creation_templates(self):
    wanted = self._get_param("prefixes") or []
    found = [t for t in _registry_list(self, "repository_creation_templates") if not wanted or t["prefix"] in wanted]
    return json.dumps({"registryId": self.current_account, "repositoryCreationTemplates": found})


def _delete_repository_creation_template(self):
    templates = _registry_list(self, "repository_creation_templates")
    prefix = self._get_param("prefix")
    for t in templates:
        if t["prefix"] == prefix:
            templates.remove(t)
            return json.dumps({"registryId": self.current_account, "repositoryCreationTemplate": t})
    raise _EcrConflict("TemplateNotFoundException", f"The repository creation template with prefix '{prefix}' was not found")


def _create_pull_through_cache_rule(self):
    rules = _registry_list(self, "pull_through_cache_rules")
    prefix = self._get_param("ecrRepositoryPrefix")
    if any(r["ecrRepositoryPrefix"] == prefix for r in rules):
        raise _EcrConflict("PullThroughCacheRuleAlreadyExistsException", f"A pull through cache rule with prefix '{prefix}' already exists")
    rule = {"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": self._get_param("upstreamRegistryUrl"),
            "createdAt": time.time(), "registryId": self.current_account}
    for key in ("upstreamRegistry", "credentialArn", "customRoleArn", "upstreamRepositoryPrefix"):
        if self._get_param(key) is not None:
            rule[key] = self._get_param(key)
    rules.append(rule)
    return json.dumps(rule)


def _describe_pull_through_cache_rules(self):
    wanted = self._get_param("ecrRepositoryPrefixes") or []
    found = [r for r in _registry_list(self, "pull_through_cache_rules") if not wanted or r["ecrRepositoryPrefix"] in wanted]
    return json.dumps({"pullThroughCacheRules": found})


ECRResponse.create_repository_creation_template = _create_repository_creation_template
ECRResponse.describe_repository_creation_templates = _describe_repository_creation_templates
ECRResponse.delete_repository_creation_template = _delete_repository_creation_template
ECRResponse.create_pull_through_cache_rule = _create_pull_through_cache_rule
ECRResponse.describe_pull_through_cache_rules = _describe_pull_through_cache_rules

# --- Amazon Inspector's coverage of ECR images, with their use: not in moto 5.2 ---
# AWS (Amazon Inspector API Reference, ListCoverage, CoveredResource, EcrContainerImageMetadata,
# CoverageFilterCriteria: https://docs.aws.amazon.com/inspector/v2/APIReference/API_ListCoverage.html,
# https://docs.aws.amazon.com/inspector/v2/APIReference/API_EcrContainerImageMetadata.html;
# Inspector doc history, June 2025, image usage): POST /coverage/list answers the resources
# Inspector covers, an ECR image's `resourceMetadata.ecrImage` carrying `inUseCount` (ECS tasks
# and EKS pods running it) and `lastInUseAt`; `filterCriteria.resourceType` (EQUALS) and
# `ecrImageInUseCount` (lowerInclusive/upperInclusive) narrow the list. moto 5.2.5 has no
# ListCoverage. The coverage itself comes from Inspector's scanning, which moto cannot do: a
# test sets it with POST /inspector2_<region>/keeper-harness/coverage {"account", "resources":
# [CoveredResource…]}. Kept on the account's Inspector backend, so /moto-api/reset clears it.
from moto.inspector2 import urls as inspector2_urls  # noqa: E402
from moto.inspector2.models import inspector2_backends  # noqa: E402
from moto.inspector2.responses import Inspector2Response  # noqa: E402


def _coverage(backend):
    if not hasattr(backend, "keeper_coverage"):
        backend.keeper_coverage = []
    return backend.keeper_coverage


def _matches(resource, criteria):
    types = [f.get("value") for f in criteria.get("resourceType") or [] if f.get("comparison") == "EQUALS"]
    if types and resource.get("resourceType") not in types:
        return False
    count = ((resource.get("resourceMetadata") or {}).get("ecrImage") or {}).get("inUseCount", 0)
    for f in criteria.get("ecrImageInUseCount") or []:
        if "lowerInclusive" in f and count < f["lowerInclusive"]:
            return False
        if "upperInclusive" in f and count > f["upperInclusive"]:
            return False
    return True


def _list_coverage(self):
    criteria = self._get_param("filterCriteria") or {}
    found = [r for r in _coverage(self.inspector2_backend) if _matches(r, criteria)]
    return json.dumps({"coveredResources": found})


def _set_coverage(cls, request, full_url, headers):
    try:
        body = json.loads(request.data or b"{}")
        region = full_url.split("/inspector2_", 1)[1].split("/", 1)[0]
        backend = inspector2_backends[body["account"]][region]
        backend.keeper_coverage = list(body.get("resources") or [])
        return 200, {}, json.dumps({"resources": len(backend.keeper_coverage)})
    except Exception as e:  # a malformed call from a test: say what, rather than a bare 500
        return 400, {}, json.dumps({"message": repr(e)})


Inspector2Response.list_coverage = _list_coverage
inspector2_urls.url_paths["{0}/coverage/list$"] = Inspector2Response.dispatch
inspector2_urls.url_paths["{0}/inspector2_(?P<region>[^/]+)/keeper-harness/coverage$"] = classmethod(
    _set_coverage
).__get__(None, Inspector2Response)

# --- Service Quotas: ECR's "Images per repository": not in moto 5.2 ---
# AWS (Service Quotas API Reference, GetServiceQuota and ServiceQuota:
# https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html,
# https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ServiceQuota.html;
# Amazon ECR User Guide, "Amazon ECR service quotas": "Images per repository", default 100,000,
# adjustable, linked as servicequotas/home/services/ecr/quotas/L-03A36CE1): GetServiceQuota with
# ServiceCode "ecr" and QuotaCode "L-03A36CE1" answers {"Quota": {..., "Value": <applied>}}.
# moto 5.2.5 knows only VPC's quotas and answers NoSuchResourceException for every other. An
# increase is granted by AWS, which moto cannot do: a test sets the applied value with
# POST /servicequotas_<region>/keeper-harness/quota {"account", "value"}. Kept on the account's
# backend, so /moto-api/reset clears it.
from moto.servicequotas import urls as servicequotas_urls  # noqa: E402
from moto.servicequotas.models import ServiceQuotasBackend, servicequotas_backends  # noqa: E402
from moto.servicequotas.responses import ServiceQuotasResponse  # noqa: E402

_ECR_IMAGES_PER_REPOSITORY = "L-03A36CE1"
_get_service_quota = ServiceQuotasBackend.get_service_quota


def _service_quota(self, service_code, quota_code):
    if (service_code, quota_code) != ("ecr", _ECR_IMAGES_PER_REPOSITORY):
        return _get_service_quota(self, service_code, quota_code)
    return {
        "ServiceCode": "ecr",
        "ServiceName": "Amazon Elastic Container Registry (Amazon ECR)",
        "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ecr/{quota_code}",
        "QuotaCode": quota_code,
        "QuotaName": "Images per repository",
        "Value": float(getattr(self, "keeper_ecr_images_per_repository", 100000)),
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def _set_quota(cls, request, full_url, headers):
    try:
        body = json.loads(request.data or b"{}")
        region = full_url.split("/servicequotas_", 1)[1].split("/", 1)[0]
        backend = servicequotas_backends[body["account"]][region]
        backend.keeper_ecr_images_per_repository = int(body["value"])
        return 200, {}, json.dumps({"value": backend.keeper_ecr_images_per_repository})
    except Exception as e:  # a malformed call from a test: say what, rather than a bare 500
        return 400, {}, json.dumps({"message": repr(e)})


ServiceQuotasBackend.get_service_quota = _service_quota
servicequotas_urls.url_paths["{0}/servicequotas_(?P<region>[^/]+)/keeper-harness/quota$"] = classmethod(
    _set_quota
).__get__(None, ServiceQuotasResponse)

# --- ECS: a service's deployment follows UpdateService ---
# AWS (Amazon ECS API Reference, UpdateService;
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html):
# UpdateService with a new task definition starts a deployment of it; once it completes the
# service has one PRIMARY deployment of the new definition. moto 5.2 changes the service's
# taskDefinition but leaves its deployment on the old one, so a moved service would still look
# like it runs the old image.
from moto.ecs import models as ecs_models  # noqa: E402

_update_service = ecs_models.EC2ContainerServiceBackend.update_service


def _update_service_and_deployment(self, *args, **kwargs):
    service = _update_service(self, *args, **kwargs)
    for deployment in getattr(service, "deployments", None) or []:
        deployment["taskDefinition"] = service.task_definition
    return service


ecs_models.EC2ContainerServiceBackend.update_service = _update_service_and_deployment


# --- CloudFormation: a custom resource waits for its answer, in the state CloudFormation keeps ---
# AWS (CloudFormation User Guide, "Custom resources" and "Custom resource request objects";
# stack and resource states: "Stack status codes", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html):
# CloudFormation sends the request to the ServiceToken and keeps the resource CREATE_IN_PROGRESS,
# UPDATE_IN_PROGRESS or DELETE_IN_PROGRESS (the stack in CREATE_/UPDATE_/DELETE_IN_PROGRESS,
# UPDATE_COMPLETE_CLEANUP_IN_PROGRESS or a ROLLBACK state) until the answer arrives at the
# ResponseURL; DescribeStackResource reports those states. moto 5.2.5 invokes a moto Lambda
# function for a custom resource (failing the stack without one), runs updates and deletes at
# once, and reports every resource in its stack's status. Here a custom resource is registered
# without invoking anything (the tests send the request, as CloudFormation would), and
# POST /cloudformation_<region>/keeper-harness/stack-state sets the state CloudFormation would
# be in while it sends a request: {StackId, LogicalResourceId, ResourceStatus, StackStatus,
# PhysicalResourceId}.
import uuid  # noqa: E402

from moto.cloudformation import custom_model as cfn_custom  # noqa: E402
from moto.cloudformation import models as cfn_models  # noqa: E402
from moto.cloudformation import responses as cfn_responses  # noqa: E402
from moto.cloudformation import urls as cfn_urls  # noqa: E402

_resource_states = {}


def _custom_resource_without_lambda(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    logical_id, stack_id = kwargs["LogicalId"], kwargs["StackId"]
    resource = cfn_custom.CustomModel(region_name, str(uuid.uuid4()), logical_id, resource_name)
    cfn_models.cloudformation_backends[account_id][region_name].get_stack(stack_id).add_custom_resource(resource)
    with _lock:
        _resource_states[(stack_id, logical_id)] = {
            "ResourceStatus": "CREATE_IN_PROGRESS", "PhysicalResourceId": None, "StackStatus": None,
        }
    return resource


cfn_custom.CustomModel.create_from_cloudformation_json = classmethod(_custom_resource_without_lambda)

_stack_resource_dto = cfn_responses.StackResourceDTO.__init__


def _stack_resource_in_its_state(self, stack, resource):
    _stack_resource_dto(self, stack, resource)
    with _lock:
        state = _resource_states.get((stack.stack_id, self.logical_resource_id))
    if state is not None:
        self.resource_status = state["ResourceStatus"]
        self.physical_resource_id = state["PhysicalResourceId"]


cfn_responses.StackResourceDTO.__init__ = _stack_resource_in_its_state


def _set_stack_state(cls, request, full_url, headers):
    try:
        return _apply_stack_state(json.loads(request.data or b"{}"))
    except Exception as e:  # a malformed call from a test: say what, rather than a bare 500
        import traceback
        traceback.print_exc()
        return 400, {}, json.dumps({"message": repr(e)})


def _apply_stack_state(body):
    stack_id = body["StackId"]
    _, _, _, region, account, _ = stack_id.split(":", 5)
    backend = cfn_models.cloudformation_backends[account][region]
    stack = backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)
    if stack is None:
        return 404, {}, json.dumps({"message": f"no stack {stack_id}"})
    stack.status = body["StackStatus"]
    logical = body.get("LogicalResourceId")
    if logical:
        with _lock:
            _resource_states[(stack_id, logical)] = {
                "ResourceStatus": body["ResourceStatus"],
                "PhysicalResourceId": body.get("PhysicalResourceId"),
                "StackStatus": body["StackStatus"],
            }
    return 200, {}, "{}"


cfn_urls.url_paths["{0}/cloudformation_(?P<region>[^/]+)/keeper-harness/stack-state$"] = classmethod(
    _set_stack_state
).__get__(None, cfn_responses.CloudFormationResponse)

# --- A count of every request, by service and operation, for the benchmark ---
_setup_class = BaseResponse.setup_class


def _counted_setup_class(self, request, full_url=None, headers=None, *args, **kwargs):
    result = _setup_class(self, request, full_url, headers, *args, **kwargs)
    if os.environ.get("KEEPER_HARNESS_CALL_LOG"):
        target = (getattr(request, "headers", {}) or {}).get("X-Amz-Target", "")
        # JSON protocols name the operation in X-Amz-Target; query protocols (STS,
        # Organizations' older clients) in the form's Action; REST ones by method and path.
        action = ((getattr(self, "querystring", None) or {}).get("Action") or [None])[0]
        operation = (target.split(".")[-1] if target else action
                     or f"{getattr(request, 'method', '')} {self.path if hasattr(self, 'path') else ''}")
        _log("call", f"{self.service_name} {operation}")
    return result


BaseResponse.setup_class = _counted_setup_class


# --- STS: AssumeRole needs the role, and the ExternalId its trust policy asks for ---
# AWS refuses AssumeRole (AccessDenied) when the role does not exist or its trust policy does not
# admit the call (here: its sts:ExternalId condition). moto hands out credentials for any ARN,
# which would make "an account without the member role" impossible to test. The role
# Organizations creates in every account it creates, OrganizationAccountAccessRole, is taken to
# exist (the harness uses it to set member accounts up, as a platform team would).
from moto.iam.models import iam_backends  # noqa: E402
from moto.sts import models as sts_models  # noqa: E402
from moto.sts.exceptions import STSClientError  # noqa: E402
from moto.utilities.utils import get_partition  # noqa: E402

_assume_role = sts_models.STSBackend.assume_role


class _AssumeRoleDenied(STSClientError):
    code = "AccessDenied"

    def __init__(self, role_arn):
        super().__init__("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}")


def _required_external_id(role):
    try:
        trust = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return None
    for statement in trust.get("Statement", []):
        for condition in (statement.get("Condition") or {}).values():
            if isinstance(condition, dict) and "sts:ExternalId" in condition:
                return condition["sts:ExternalId"]
    return None


def _assume_existing_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
    parts = role_arn.split(":")
    if len(parts) >= 6 and not role_arn.endswith(":role/OrganizationAccountAccessRole"):
        backend = iam_backends[parts[4]][get_partition(region_name)]
        try:
            role = backend.get_role_by_arn(role_arn)
        except Exception:  # moto's IAMNotFoundException, or any lookup failure
            raise _AssumeRoleDenied(role_arn)
        required = _required_external_id(role)
        if required is not None and external_id != required:
            raise _AssumeRoleDenied(role_arn)
    return _assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id)


sts_models.STSBackend.assume_role = _assume_existing_role


if __name__ == "__main__":
    from moto.server import main

    args = sys.argv[1:]
    # The interpreter calls back into this server (S3 ItemReader, Lambda invoke) on MOTO_PORT.
    if "-p" in args:
        os.environ["MOTO_PORT"] = args[args.index("-p") + 1]
    main(args)
