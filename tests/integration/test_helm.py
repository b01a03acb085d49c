"""The Helm chart: lint --strict, render with default and production-like values, and
validate every manifest against the Kubernetes schemas offline (a real helm binary)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.deploy_check import validate_file
from tests.conftest import ROOT
from tests.support.kubelet import chart_probes, chart_values

CHART = ROOT / "deploy/helm/credit-registry"
# The pods that serve /metrics: production-like values also run a witness (off by default).
METRICS_COMPONENTS = {
    "default": {"service", "relay", "projections", "web"},
    "production": {"service", "relay", "projections", "web", "witness"},
}
HELM_TIMEOUT_S = 1_500  # the first run builds helm from source
COMPONENT_LABEL = "app.kubernetes.io/component"
VALUES_FILES = {
    "default": ["deploy/helm/credit-registry/values.yaml"],
    "production": ["deploy/helm/credit-registry/values.yaml", "deploy/helm/values-production.yaml"],
}
# Where each probe asks (docs/probes.md): started and ready mean caught up; alive only alive.
PROBE_PATHS = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
DOCUMENTED_BUDGET = re.compile(r"default startup budget is \*\*([\d,]+) s\*\*")
# What scripts/helm-check.sh sets for the default render: the chart cannot default it.
REGISTRY_PUBLIC_KEY = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"


@dataclass(frozen=True)
class HelmCheck:
    result: subprocess.CompletedProcess[str]
    rendered: Path  # default.yaml and production.yaml
    helm: Path


@pytest.fixture(scope="module")
def helm_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmCheck]:
    """scripts/helm-check.sh once for the module: it builds helm if needed, lints and renders."""
    rendered = tmp_path_factory.mktemp("helm")
    environment = dict(os.environ, HELM_CHECK_OUT=str(rendered))
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/helm-check.sh")],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=HELM_TIMEOUT_S,
    )
    bin_dir = os.environ.get("HELM_BIN_DIR", str(Path.home() / ".cache/credit-registry/bin"))
    yield HelmCheck(result, rendered, Path(bin_dir) / "helm")


def manifests(helm_check: HelmCheck, values: str) -> list[dict[str, Any]]:
    assert helm_check.result.returncode == 0, helm_check.result.stdout + helm_check.result.stderr
    text = (helm_check.rendered / f"{values}.yaml").read_text(encoding="utf-8")
    return [document for document in yaml.safe_load_all(text) if document]


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.timeout(1_800)
def test_chart_lints_renders_and_validates(helm_check: HelmCheck) -> None:
    result = helm_check.result
    assert result.returncode == 0, result.stdout + result.stderr
    # Default: no CronJobs (they need a registry key and a party's key); production: the
    # audit, the delivery expiry, a ServiceMonitor, the web view's Ingress and a witness.
    assert "default.yaml: 11 manifests, 0 problems" in result.stdout
    assert "production.yaml: 16 manifests, 0 problems" in result.stdout
    rendered = (helm_check.rendered / "production.yaml").read_text(encoding="utf-8")
    for expected in (
        "kind: CronJob",
        "kind: PodDisruptionBudget",
        "kind: NetworkPolicy",
        "kind: ServiceMonitor",
        "helm.sh/hook: pre-install,pre-upgrade",
        "startupProbe:",
        "secretKeyRef",
        "--client-ca=/secrets/tls/ca.crt",
    ):
        assert expected in rendered, expected
    assert "passphrase" not in rendered.split("secretKeyRef")[0]  # secrets only by reference


@pytest.mark.timeout(1_800)
@pytest.mark.parametrize("values", ["default", "production"])
def test_the_metrics_service_lists_every_pod_with_a_metrics_port(
    helm_check: HelmCheck, values: str
) -> None:
    documents = manifests(helm_check, values)
    services = {
        d["metadata"]["labels"][COMPONENT_LABEL]: d for d in documents if d["kind"] == "Service"
    }
    metrics = services["metrics"]
    assert metrics["spec"]["clusterIP"] == "None"  # headless: one endpoint per pod
    assert [(p["name"], p["targetPort"]) for p in metrics["spec"]["ports"]] == [
        ("metrics", "metrics")
    ]
    selector = metrics["spec"]["selector"]
    selected: set[str] = set()
    for workload in documents:
        if workload["kind"] not in {"Deployment", "Job", "CronJob"}:
            continue
        template = pod_template(workload)
        component = template["metadata"]["labels"][COMPONENT_LABEL]
        ports = {
            port["name"]
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        }
        if selects(selector, template["metadata"]["labels"]):
            assert "metrics" in ports, component  # never a target without the port
            selected.add(component)
        else:
            assert "metrics" not in ports, component  # never a metrics port left out
    assert selected == METRICS_COMPONENTS[values]
    # The gRPC and web Services carry no metrics port: no pod is reachable for scraping twice.
    assert [p["name"] for p in services["service"]["spec"]["ports"]] == ["grpc"]
    assert [p["name"] for p in services["web"]["spec"]["ports"]] == ["http"]

    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    if values == "default":
        assert monitors == []  # optional, off by default
        return
    (monitor,) = monitors
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    matched = [
        component
        for component, service in services.items()
        if selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    ]
    assert matched == ["metrics"]


@pytest.mark.timeout(1_800)
def test_the_audit_cronjob_needs_the_registry_public_key(helm_check: HelmCheck) -> None:
    assert [d for d in manifests(helm_check, "default") if d["kind"] == "CronJob"] == []
    production = manifests(helm_check, "production")
    (cronjob,) = [
        d for d in production if d["kind"] == "CronJob" and d["metadata"]["name"].endswith("-audit")
    ]
    (configmap,) = [d for d in production if d["kind"] == "ConfigMap"]
    assert len(configmap["data"]["CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY"]) == 64
    (command,) = [c["command"] for c in pod_template(cronjob)["spec"]["containers"]]
    assert "--report -" in command[-1]  # the JSON report goes to the pod's log

    # Asking for the audit without the key fails the render with a message, rather than
    # scheduling a job that can only exit 2 (the projection workers refuse first).
    refused = subprocess.run(
        [str(helm_check.helm), "template", "check", str(CHART), "--set", "audit.enabled=true"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "need registryPublicKey" in refused.stderr, refused.stderr
    assert "kind: CronJob" not in refused.stdout


@pytest.mark.timeout(1_800)
def test_projection_workers_render_only_with_the_registry_public_key(
    helm_check: HelmCheck,
) -> None:
    """Fail closed: a worker without the key would project whatever is on the topic, so the
    chart renders none; with the key, every worker reads it from the ConfigMap."""
    command = [str(helm_check.helm), "template", "check", str(CHART)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert refused.returncode != 0 and "kind: Deployment" not in refused.stdout
    assert "projection workers need registryPublicKey" in refused.stderr, refused.stderr
    documents = manifests(helm_check, "default")
    (workers,) = [
        d
        for d in documents
        if d["kind"] == "Deployment"
        and pod_template(d)["metadata"]["labels"][COMPONENT_LABEL] == "projections"
    ]
    (configmap,) = [d for d in documents if d["kind"] == "ConfigMap"]
    assert configmap["data"]["CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY"] == REGISTRY_PUBLIC_KEY
    (container,) = pod_template(workers)["spec"]["containers"]
    assert container["args"] == ["projections", "run"]  # never --trust-topic
    assert container["envFrom"][0]["configMapRef"]["name"] == configmap["metadata"]["name"]


def test_the_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n"
        "  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: []}}\n"
    )
    problems = validate_file(broken)
    assert problems and "Deployment x" in problems[0]


@pytest.mark.timeout(1_800)
def test_the_delivery_expiry_cronjob_signs_as_its_party_and_may_reach_the_service(
    helm_check: HelmCheck,
) -> None:
    production = manifests(helm_check, "production")
    (cronjob,) = [d for d in production if d["metadata"]["name"].endswith("-delivery-expiry")]
    pod = pod_template(cronjob)
    (container,) = pod["spec"]["containers"]
    arguments = container["args"]
    assert arguments[0] == "--server=check-credit-registry:50051"
    assert arguments[arguments.index("deliveries") + 1] == "expire-due"
    assert "--as=tokyo-62-secretariat" in arguments and "--all" in arguments
    assert "--client-cert=/secrets/client-tls/tls.crt" in arguments  # the service wants mTLS
    (passphrase,) = [e for e in container["env"] if e["name"] == "CREDIT_REGISTRY_PASSPHRASE"]
    assert "secretKeyRef" in passphrase["valueFrom"]  # by reference, never a value
    # The production NetworkPolicy admits only listed clients: the expiry job is one.
    (policy,) = [d for d in production if d["kind"] == "NetworkPolicy"]
    sources = policy["spec"]["ingress"][0]["from"]
    assert any(
        selects(
            source.get("podSelector", {}).get("matchLabels", {"-": "-"}), pod["metadata"]["labels"]
        )
        for source in sources
    )

    # Enabled without the party or its key: the render fails with a message.
    for settings, message in (
        (["deliveryExpiry.enabled=true"], "deliveryExpiry.enabled needs deliveryExpiry.actor"),
        (
            ["deliveryExpiry.enabled=true", "deliveryExpiry.actor=tokyo-62-secretariat"],
            "deliveryExpiry.enabled needs deliveryExpiry.keySecret.name",
        ),
    ):
        command = [str(helm_check.helm), "template", "check", str(CHART)]
        command += ["--set", f"registryPublicKey={REGISTRY_PUBLIC_KEY}"]
        for setting in settings:
            command += ["--set", setting]
        refused = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr


def documented_startup_budget_s() -> int:
    (found,) = DOCUMENTED_BUDGET.findall((ROOT / "docs/probes.md").read_text(encoding="utf-8"))
    return int(found.replace(",", ""))


def rendered_probe(probe: dict[str, Any]) -> tuple[float, int, float]:
    return (probe["periodSeconds"], probe["failureThreshold"], probe["timeoutSeconds"])


@pytest.mark.timeout(1_800)
@pytest.mark.parametrize("values", ["default", "production"])
def test_every_long_running_workload_has_startup_readiness_and_liveness_probes(
    helm_check: HelmCheck, values: str
) -> None:
    documents = manifests(helm_check, values)
    settings = chart_probes(
        chart_values(
            *(yaml.safe_load((ROOT / path).read_text("utf-8")) for path in VALUES_FILES[values])
        )
    )
    budget_s = documented_startup_budget_s()
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    components = {pod_template(d)["metadata"]["labels"][COMPONENT_LABEL] for d in deployments}
    assert components == METRICS_COMPONENTS[values]  # every long-running process, no other
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        # A rollout is not called stalled while a new pod may still be catching up.
        assert deployment["spec"]["progressDeadlineSeconds"] > budget_s, name
        for container in pod_template(deployment)["spec"]["containers"]:
            ports = {port["name"] for port in container["ports"]}
            for kind, path in PROBE_PATHS.items():
                probe = container[kind]
                assert probe["httpGet"] == {"path": path, "port": "metrics"}, (name, kind)
                assert "metrics" in ports, name
                assert "initialDelaySeconds" not in probe, (name, kind)  # the startup probe waits
                expected = settings[kind.removesuffix("Probe")]
                assert rendered_probe(probe) == (
                    expected.period_s,
                    expected.failure_threshold,
                    expected.timeout_s,
                ), (name, kind)
            startup = container["startupProbe"]
            assert startup["periodSeconds"] * startup["failureThreshold"] >= budget_s, name
            # A hung process is still killed in well under a minute once started.
            liveness = container["livenessProbe"]
            assert liveness["periodSeconds"] * liveness["failureThreshold"] <= 60, name


@pytest.mark.timeout(1_800)
def test_the_startup_budget_is_a_value_and_the_schema_holds_it_to_sense(
    helm_check: HelmCheck,
) -> None:
    assert helm_check.result.returncode == 0, helm_check.result.stdout + helm_check.result.stderr
    command = [str(helm_check.helm), "template", "check", str(CHART)]
    command += ["--set", f"registryPublicKey={REGISTRY_PUBLIC_KEY}"]  # the workers need it
    raised = subprocess.run(
        [*command, "--set", "startup.budgetSeconds=3005"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    rendered = [d for d in yaml.safe_load_all(raised.stdout) if d and d["kind"] == "Deployment"]
    for deployment in rendered:
        (container,) = pod_template(deployment)["spec"]["containers"]
        assert container["startupProbe"]["failureThreshold"] == 301  # 3,005 s in 10 s periods
        assert deployment["spec"]["progressDeadlineSeconds"] == 3_305
    refused = subprocess.run(
        [*command, "--set", "startup.budgetSeconds=5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert refused.returncode != 0 and "budgetSeconds" in refused.stderr, refused.stderr


@pytest.mark.timeout(1_800)
@pytest.mark.parametrize("values", ["default", "production"])
def test_the_web_view_reads_only_the_read_models_behind_health_probes(
    helm_check: HelmCheck, values: str
) -> None:
    documents = manifests(helm_check, values)
    (web,) = [
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["labels"][COMPONENT_LABEL] == "web"
    ]
    (container,) = pod_template(web)["spec"]["containers"]
    assert container["args"] == ["web"]
    environment = {e["name"]: e for e in container["env"]}
    # The projection database through the read-only role's secret; no event store at all.
    assert environment["CREDIT_REGISTRY_PROJECTION_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "credit-registry-web-database",
        "key": "readonly-projection-url",
    }
    assert "CREDIT_REGISTRY_DATABASE_URL" not in environment
    assert environment["CREDIT_REGISTRY_WEB_LISTEN"]["value"] == "0.0.0.0:8080"
    # Its probes are every long-running pod's (checked above); /healthz on the http port
    # stays for load balancers in front of the pages.
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    (policy,) = [d for d in documents if d["kind"] == "NetworkPolicy"]
    opened = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert 8080 in opened
    ingresses = [d for d in documents if d["kind"] == "Ingress"]
    if values == "default":
        assert ingresses == []  # optional, off by default
        return
    (ingress,) = ingresses
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "registry.example.org"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "check-credit-registry-web", "port": {"name": "http"}}


@pytest.mark.timeout(1_800)
def test_the_chart_runs_a_witness_with_its_own_key_and_state_only_when_asked(
    helm_check: HelmCheck,
) -> None:
    def witnesses(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            d
            for d in documents
            if d["kind"] == "Deployment" and d["metadata"]["labels"][COMPONENT_LABEL] == "witness"
        ]

    assert witnesses(manifests(helm_check, "default")) == []  # off by default
    (witness,) = witnesses(manifests(helm_check, "production"))
    assert witness["spec"]["replicas"] == 1 and witness["spec"]["strategy"]["type"] == "Recreate"
    pod = pod_template(witness)
    (container,) = pod["spec"]["containers"]
    assert container["args"][:3] == ["witness", "run", "iwaizumi-witness"]
    assert "--key-file=/secrets/witness/witness.key" in container["args"]
    environment = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert environment == {  # the passphrase and its database, only by reference
        "CREDIT_REGISTRY_WITNESS_PASSPHRASE": {"name": "iwaizumi-witness-key", "key": "passphrase"},
        "CREDIT_REGISTRY_WITNESS_STATE_URL": {"name": "iwaizumi-witness-database", "key": "url"},
    }
    (key,) = [v for v in pod["spec"]["volumes"] if v["name"] == "key"]
    assert key["secret"]["secretName"] == "iwaizumi-witness-key"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}

    command = [str(helm_check.helm), "template", "check", str(CHART)]
    command += [
        "--set",
        f"registryPublicKey={REGISTRY_PUBLIC_KEY}",
        "--set",
        "witness.enabled=true",
    ]
    for settings, message in (
        ([], "witness.enabled needs witness.name"),
        (["witness.name=iwaizumi-witness"], "witness.enabled needs witness.keySecret.name"),
        (
            ["witness.name=iwaizumi-witness", "witness.keySecret.name=k"],
            "witness.enabled needs witness.state.databaseUrl.name or witness.state.existingClaim",
        ),
    ):
        refused = subprocess.run(
            [*command, *(arg for s in settings for arg in ("--set", s))],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    volume = ("witness.name=w", "witness.keySecret.name=k", "witness.state.existingClaim=pvc")
    on_a_volume = subprocess.run(
        [*command, *(arg for s in volume for arg in ("--set", s))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    (rendered,) = witnesses([d for d in yaml.safe_load_all(on_a_volume.stdout) if d])
    pod = pod_template(rendered)
    (container,) = pod["spec"]["containers"]
    state_url = "--state-url=sqlite:////var/lib/credit-registry-witness/w.sqlite?timeout=30"
    assert state_url in container["args"]
    claims = [v["persistentVolumeClaim"] for v in pod["spec"]["volumes"] if v["name"] == "state"]
    assert claims == [{"claimName": "pvc"}]
