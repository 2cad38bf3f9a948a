"""The Solana layer: RPC pool, transactions, Jito, DEX adapters and the localnet.

A plain package: it imports no other app and reads no Django settings; callers pass
configuration in. See the module docstrings for the public API of each part.
"""
