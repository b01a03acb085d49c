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
"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" -f deploy/helm/values-production.yaml
"$HELM" template check "$CHART" > "$OUT/default.yaml"
"$HELM" template check "$CHART" -f deploy/helm/values-production.yaml > "$OUT/production.yaml"
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m devtools.deploy_check "$OUT/default.yaml" "$OUT/production.yaml"
