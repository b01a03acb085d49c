"""Validates rendered Kubernetes manifests offline against the bundled schemas.
Custom resources without a bundled schema (the ServiceMonitor) are checked for shape only."""

from __future__ import annotations

import sys
from pathlib import Path

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.31.0"
CUSTOM_KINDS = {"ServiceMonitor"}


def validate_file(path: Path) -> list[str]:
    problems: list[str] = []
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for document in documents:
        kind = document.get("kind", "?")
        name = document.get("metadata", {}).get("name", "?")
        if kind in CUSTOM_KINDS:
            if not document.get("spec", {}).get("endpoints"):
                problems.append(f"{path.name}: {kind} {name} has no endpoints")
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{path.name}: {kind} {name}: {error.message}")
    print(f"{path.name}: {len(documents)} manifests, {len(problems)} problems")
    return problems


def main() -> int:
    problems = [problem for argument in sys.argv[1:] for problem in validate_file(Path(argument))]
    for problem in problems:
        print("INVALID", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
