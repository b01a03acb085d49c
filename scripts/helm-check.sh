#!/usr/bin/env bash
# Renders the Helm chart with its default values and with production-like values, runs
# `helm lint --strict`, and validates every rendered manifest against the Kubernetes
# schemas offline (kubernetes-validate). helm is built from the Go module proxy into a
# cache the first time (a few minutes), then reused.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
BIN_DIR="${HELM_BIN_DIR:-$HOME/.cache/credit-registry/bin}"
HELM="$BIN_DIR/helm"
# Built without release ldflags, helm reports only the minor version: trust the cache by path.
if [ ! -x "$HELM" ]; then
  mkdir -p "$BIN_DIR"
  echo "helm-check: building helm $HELM_VERSION from the Go module proxy" >&2
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
CHART=deploy/helm/credit-registry
OUT="${HELM_CHECK_OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
# The defaults plus the one value the chart cannot default: the registry's public key
# (the projection workers refuse to render without it; tests/integration/test_helm.py).
DEFAULT=(--set "registryPublicKey=${HELM_CHECK_REGISTRY_PUBLIC_KEY:-3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c}")
"$HELM" lint --strict "$CHART" "${DEFAULT[@]}"
"$HELM" lint --strict "$CHART" -f deploy/helm/values-production.yaml
"$HELM" template check "$CHART" "${DEFAULT[@]}" > "$OUT/default.yaml"
"$HELM" template check "$CHART" -f deploy/helm/values-production.yaml > "$OUT/production.yaml"
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m devtools.deploy_check "$OUT/default.yaml" "$OUT/production.yaml"
