"""Chain adapter: JSON-RPC, the registry's ABI, signing, the local Anvil."""
