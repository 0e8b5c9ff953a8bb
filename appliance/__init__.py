"""The appliance: configuration, jobs, imaging, certificates, spool, uplink and the CLI."""

__version__ = "0.1.0"
