"""One audit in a process of its own, so that its peak memory is its own. Prints JSON.

python -m tests.bench.audit_child EXPORT REGISTRY_PUBLIC_KEY_HEX [--keep-projection FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

from registry.audit.auditor import Auditor
from registry.audit.sources import ExportSource
from registry.envelope.keys import SigningKey


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("export", type=Path)
    parser.add_argument("registry_public_key")
    parser.add_argument("--keep-projection", type=Path)
    parser.add_argument("--workers", type=int)
    arguments = parser.parse_args()
    public_key = bytes.fromhex(arguments.registry_public_key)
    auditor = Auditor(
        {SigningKey.key_id_of(public_key): public_key},
        workers=arguments.workers,
        progress=False,
        keep_projection=arguments.keep_projection,
    )
    report = auditor.run(ExportSource(arguments.export))
    kilobytes_per_megabyte = 1024
    print(
        json.dumps(
            {
                "envelopes": report.envelopes,
                "elapsed_s": report.elapsed_s,
                "clean": report.clean,
                "discrepancies": [d.reason for d in report.discrepancies[:3]],
                "workers": auditor.workers,
                "peak_rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                // kilobytes_per_megabyte,
                "peak_rss_largest_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                // kilobytes_per_megabyte,
            }
        )
    )


if __name__ == "__main__":
    main()
