"""credit-registry: an event-sourced, signed, distributed registry for carbon credits."""

__version__ = "0.1.0"
