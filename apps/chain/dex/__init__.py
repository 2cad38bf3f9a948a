"""DEX adapters: one module per venue behind the `DexAdapter` interface (see `registry`)."""
