"""Disk discovery, probing, erase methods and verification.

Knows nothing of configuration, certificates, the network or any user interface.
"""

__version__ = "0.1.0"
