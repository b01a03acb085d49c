"""The Helm chart: lint --strict, render with default and production-like values, and
validate every manifest against the Kubernetes schemas offline (a real helm binary)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from registry.deploy_check import validate_file
from tests.conftest import ROOT


@pytest.mark.timeout(1_800)  # the first run builds helm from source
def test_chart_lints_renders_and_validates(tmp_path: Path) -> None:
    environment = dict(os.environ, HELM_CHECK_OUT=str(tmp_path))
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/helm-check.sh")],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=1_500,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "default.yaml: 9 manifests, 0 problems" in result.stdout
    assert "production.yaml: 10 manifests, 0 problems" in result.stdout
    rendered = (tmp_path / "production.yaml").read_text(encoding="utf-8")
    for expected in (
        "kind: CronJob",
        "kind: PodDisruptionBudget",
        "kind: NetworkPolicy",
        "kind: ServiceMonitor",
        "helm.sh/hook: pre-install,pre-upgrade",
        "grpc:",
        "secretKeyRef",
        "--client-ca=/secrets/tls/ca.crt",
    ):
        assert expected in rendered, expected
    assert "passphrase" not in rendered.split("secretKeyRef")[0]  # secrets only by reference


def test_the_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n"
        "  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: []}}\n"
    )
    problems = validate_file(broken)
    assert problems and "Deployment x" in problems[0]
