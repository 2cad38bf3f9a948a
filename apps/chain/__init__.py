"""The Solana layer used in production: RPC pool, transactions, Jito and DEX adapters.

A plain package: it imports no other app and reads no Django settings; callers pass
configuration in. See the module docstrings for the public API of each part.
"""
