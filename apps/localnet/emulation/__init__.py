"""Emulated programs the localnet cannot run from a binary (pump.fun, PumpSwap), one module each;
`anchor_idl` reads their official IDL files into the account rules the emulations enforce."""
