"""The auditor's tools: export, sources, the streaming audit, and proofs."""
