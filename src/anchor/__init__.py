"""anchor: a blockchain-anchored registry for Open Badges 3.0 micro-credentials."""

__version__ = "0.1.0"
