"""The venues' own program binaries the localnet runs (vendored, see PROVENANCE.md here).

Each file's sha256 is checked before LiteSVM loads it: a file that does not match the
provenance table is refused (`ProgramIntegrityError`) instead of running code nobody checked.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from solders.pubkey import Pubkey

from apps.chain.constants import RAYDIUM_AMM_V4_PROGRAM_ID, RAYDIUM_CPMM_PROGRAM_ID

DIRECTORY = Path(__file__).resolve().parent


class ProgramIntegrityError(Exception):
    """A vendored program binary is missing or differs from the one in PROVENANCE.md."""


@dataclass(frozen=True)
class VendoredProgram:
    name: str
    program_id: Pubkey
    filename: str
    sha256: str


PROGRAMS: tuple[VendoredProgram, ...] = (
    VendoredProgram(
        "Raydium AMM v4",
        RAYDIUM_AMM_V4_PROGRAM_ID,
        "raydium_amm_v4.so",
        "d3f6906a8e2847865f95b0c156b06d05db07778dd1d6c24044bae0b9ac1bb93c",
    ),
    VendoredProgram(
        "Raydium CPMM",
        RAYDIUM_CPMM_PROGRAM_ID,
        "raydium_cp_swap.so",
        "4ec452fc44ad608c638a08355b8f964c92109a646f63ab481f98ee5e90c00e7b",
    ),
)


def verified_bytes(program: VendoredProgram, *, directory: Path = DIRECTORY) -> bytes:
    """The program's ELF, after checking its sha256 against the provenance table."""
    path = directory / program.filename
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramIntegrityError(f"{program.name}: cannot read {path}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != program.sha256:
        raise ProgramIntegrityError(
            f"{program.name}: {path} has sha256 {actual}, expected {program.sha256} "
            "(PROVENANCE.md); refusing to load it"
        )
    return data


@functools.cache
def _cached(program: VendoredProgram) -> bytes:
    # Every Cluster loads the programs; the files are read and checked once per process.
    return verified_bytes(program)


def load_into(svm) -> None:
    """Add every vendored program to a LiteSVM at its real program id."""
    for program in PROGRAMS:
        svm.add_program(program.program_id, _cached(program))
