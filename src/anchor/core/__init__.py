"""Pure core: no I/O, no web3, SQLAlchemy, Flask or requests."""
