"""The venues' official IDL files and a reader for their account layouts (test vectors)."""

from __future__ import annotations

import json
from pathlib import Path

_DIR = Path(__file__).resolve().parent
_PRIMITIVES = {
    "u8": 1, "i8": 1, "bool": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "u64": 8, "i64": 8,
    "u128": 16, "i128": 16, "publicKey": 32, "pubkey": 32,
}  # fmt: skip


def load(name: str) -> dict:
    return json.loads((_DIR / f"{name}.idl.json").read_text())


def _struct(idl: dict, name: str) -> list[dict]:
    for item in (*idl.get("accounts", ()), *idl.get("types", ())):
        if item["name"] == name and "type" in item:
            return item["type"]["fields"]
    raise KeyError(name)


def _size(idl: dict, kind) -> int:
    if isinstance(kind, str):
        return _PRIMITIVES[kind]
    if "array" in kind:
        inner, count = kind["array"]
        return _size(idl, inner) * count
    defined = kind["defined"]
    name = defined["name"] if isinstance(defined, dict) else defined
    return sum(_size(idl, f["type"]) for f in _struct(idl, name))


def layout(idl: dict, name: str) -> tuple[dict[str, tuple[int, int]], int]:
    """({field: (offset, size)}, total size) of a packed struct, without any discriminator."""
    offsets, at = {}, 0
    for f in _struct(idl, name):
        size = _size(idl, f["type"])
        offsets[f["name"]] = (at, size)
        at += size
    return offsets, at


def instruction(idl: dict, name: str) -> dict:
    return next(i for i in idl["instructions"] if i["name"] == name)


def error_code(idl: dict, name: str) -> int:
    return next(e["code"] for e in idl["errors"] if e["name"] == name)
