"""The pure domain: rules of the registry, with no I/O and no framework imports.

Everything here is deterministic: the same state and the same command give the same
effects, which is what lets an auditor re-apply every rule from the log alone."""
