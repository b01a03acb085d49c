"""The committed gRPC stubs must be exactly what grpcio-tools generates from proto/."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    environment = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(
        ["bash", str(ROOT / "scripts/generate-stubs.sh"), str(tmp_path)],
        check=True,
        env=environment,
        cwd=ROOT,
    )
    committed = ROOT / "registry/api"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated == sorted(
        p.relative_to(committed)
        for p in committed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (committed / relative).read_bytes(), (
            f"{relative} is stale: run scripts/generate-stubs.sh"
        )
