"""hotline: the IT service-desk hotline server."""

__version__ = "0.1.0"
