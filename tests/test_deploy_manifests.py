"""The manifests users apply (deploy/), checked offline: the compose file as Debian's
docker-compose reads it, HAProxy's configuration as haproxy checks it, and the Helm chart
rendered by Helm's own engine (helm-python-sdk: Helm's Go SDK), linted, and every object
validated against the Kubernetes API schemas (kubernetes-validate, strict: no unknown field)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.policies import load_policies

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "v0-gateway"
KUBERNETES = ["1.30.0", "1.37.0"]


def compose_config(**env: str) -> dict[str, Any]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    out = subprocess.run(["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config"], capture_output=True,
                         text=True, env={**os.environ, **env}, timeout=60)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_runs_replicas_behind_haproxy_after_the_migration():
    config = compose_config(V0_REPLICAS="5", V0_ADMIN_KEY="adm")
    services = config["services"]
    assert sorted(services) == ["gateway", "haproxy", "migrate", "postgres", "redis"]
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 5
    assert gateway["command"] == ["v0-gateway", "serve"]
    assert gateway["depends_on"] == {"migrate": {"condition": "service_completed_successfully"},
                                     "redis": {"condition": "service_healthy"}}
    assert gateway["environment"]["V0_DATABASE_URL"] == "postgresql+psycopg://v0:v0@postgres:5432/v0"
    assert gateway["environment"]["V0_REDIS_URL"] == "redis://redis:6379/0"
    assert gateway["environment"]["V0_ADMIN_KEY"] == "adm"
    assert services["migrate"]["command"] == ["v0-gateway", "migrate"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["haproxy"]["volumes"] == [f"{DEPLOY / 'haproxy.cfg'}:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert compose_config()["services"]["gateway"]["deploy"]["replicas"] == 3


def test_haproxy_config_is_valid_and_checks_readyz():
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    out = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (DEPLOY / "haproxy.cfg").read_text()
    assert "http-check send meth GET uri /readyz" in text and "server-template gateway 10 gateway:8000 check" in text


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from helm_python.chart import Chart

    manifests = Chart.load(CHART).render(values, name="v0", namespace="gw", is_install=True)
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {d["kind"]: d for d in docs}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_chart_lints_and_every_object_matches_the_kubernetes_schemas():
    import kubernetes_validate
    from helm_python.chart import lint

    report = lint(CHART, strict=True)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
    for values in (None, {"autoscaling": {"enabled": False}, "redis": {"url": "redis://r:6379/0"},
                          "podDisruptionBudget": {"enabled": False}, "migration": {"enabled": False}}):
        for doc in render(values):
            for version in KUBERNETES:
                kubernetes_validate.validate(doc, version, strict=True)  # raises on any schema error


def test_chart_defaults():
    objects = by_kind(render())
    assert sorted(objects) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job", "PodDisruptionBudget",
                               "Service"]
    deployment = objects["Deployment"]
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    pod = deployment["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    assert gateway["command"] == ["v0-gateway", "serve"]
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert gateway["securityContext"]["runAsUser"] == 10001 and gateway["securityContext"]["readOnlyRootFilesystem"]
    env = env_of(gateway)
    assert env["V0_DATABASE_URL"] == {"secretKeyRef": {"name": "v0-gateway", "key": "database-url"}}
    assert env["V0_ADMIN_KEY"] == {"secretKeyRef": {"name": "v0-gateway", "key": "admin-key"}}
    assert env["NVIDIA_NIM_API_KEY"] == {"secretKeyRef": {"name": "v0-gateway", "key": "nvidia-nim-api-key"}}
    assert env["V0_POLICIES"] == "/config/policies.yaml" and "V0_REDIS_URL" not in env
    mounts = {m["mountPath"]: m["name"] for m in gateway["volumeMounts"]}
    assert mounts == {"/config": "policies", "/data": "data", "/tmp": "tmp"}
    assert {"name": "policies", "configMap": {"name": "v0-v0-gateway"}} in pod["volumes"]

    hpa, pdb = objects["HorizontalPodAutoscaler"], objects["PodDisruptionBudget"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "v0-v0-gateway"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert pdb["spec"]["minAvailable"] == 2
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert objects["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]

    job = objects["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["v0-gateway", "migrate"]
    assert env_of(migrate) == {"V0_DATABASE_URL": env["V0_DATABASE_URL"]}


def test_chart_policies_are_the_repository_default_and_load(tmp_path):
    assert (CHART / "files" / "policies.yaml").read_text() == (REPO / "policies.yaml").read_text()
    text = by_kind(render())["ConfigMap"]["data"]["policies.yaml"]
    assert text == (REPO / "policies.yaml").read_text()
    (tmp_path / "policies.yaml").write_text(text)
    assert load_policies(tmp_path / "policies.yaml").spec.default_policy == "balanced"
    custom = "default_policy: p\ncandidates:\n  a:\n    model: openai/a\npolicies:\n  p:\n    candidates: [a]\n"
    assert by_kind(render({"policies": custom}))["ConfigMap"]["data"]["policies.yaml"] == custom


def test_chart_without_autoscaling_sets_replicas_and_redis():
    objects = by_kind(render({"autoscaling": {"enabled": False}, "replicaCount": 4,
                              "redis": {"secretName": "cache", "secretKey": "url"}}))
    assert "HorizontalPodAutoscaler" not in objects
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 4
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["V0_REDIS_URL"] == {"secretKeyRef": {"name": "cache", "key": "url"}}
