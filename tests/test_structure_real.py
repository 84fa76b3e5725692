"""Reading real wwPDB files (tests/data, copied from ../shared/data): counts, numbering, formats, policies."""

from __future__ import annotations

import gzip
from pathlib import Path

import gemmi
import numpy as np
import pytest

from protsteer.structure import ReadPolicy, read_structure, select_residues
from protsteer.voxel import residue_environments

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = sorted(DATA.glob("*.pdb.gz"))


def gemmi_polymer_residue_count(path: Path) -> int:
    """Residues in the polymer part of each chain of model 1, per gemmi, altloc conformers counted once."""
    structure = gemmi.read_structure(str(path))
    structure.setup_entities()
    count = 0
    for chain in structure[0]:
        seen = set()
        for residue in chain.get_polymer():
            seen.add((residue.seqid.num, residue.seqid.icode))
        count += len(seen)
    return count


def test_fixtures_present():
    assert len(FIXTURES) >= 4
    assert sum(path.stat().st_size for path in FIXTURES) < 1_000_000


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_residue_count_matches_gemmi_polymer(path):
    parsed = read_structure(path)
    assert parsed.n_residues + len(parsed.skipped) == gemmi_polymer_residue_count(path)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_array_invariants(path):
    parsed = read_structure(path)
    n, r = parsed.n_atoms, parsed.n_residues
    assert parsed.coords.shape == (n, 3) and parsed.coords.dtype == np.float32
    assert parsed.element.shape == parsed.residue_index.shape == parsed.is_sidechain.shape == (n,)
    assert parsed.residue_index.min() >= -1 and parsed.residue_index.max() == r - 1
    assert parsed.backbone.shape == (r, 4, 3) and parsed.virtual_cb.shape == (r, 3)
    assert np.isfinite(parsed.ca).all()
    # every residue row owns its CA atom, and CA/N/C/O are never side chain
    ca_atoms = (parsed.atom_name == "CA") & (parsed.residue_index >= 0)
    assert np.array_equal(np.sort(parsed.residue_index[ca_atoms]), np.arange(r))
    assert not parsed.is_sidechain[np.isin(parsed.atom_name, ["N", "CA", "C", "O", "OXT"])].any()
    assert not parsed.is_sidechain[parsed.residue_index < 0].any()
    assert (parsed.element != 1).all()  # hydrogens stripped by default
    for column in parsed.residues.to_columns().values():
        assert len(column) == r
    for chain in np.unique(parsed.residues.chain):
        rows = parsed.residues.chain == chain
        assert np.array_equal(parsed.residues.seq_index[rows], np.arange(rows.sum()))


def test_insertion_codes_round_trip(tmp_path):
    parsed = read_structure(DATA / "1LVE.pdb.gz")
    inserted = np.flatnonzero(parsed.residues.icode != "")
    addresses = parsed.residues.addresses()
    assert [addresses[i] for i in inserted] == [f"A:27{c}" for c in "ABCDEF"]
    for row in inserted:
        mask = select_residues(parsed.residues, addresses[row])
        assert np.flatnonzero(mask).tolist() == [row]
    assert select_residues(parsed.residues, "A:27-28").sum() == 8  # 27, 27A-27F, 28 in file order
    # through mmCIF written by gemmi: same numbering
    cif = tmp_path / "1LVE.cif"
    gemmi.read_structure(str(DATA / "1LVE.pdb.gz")).make_mmcif_document().write_file(str(cif))
    again = read_structure(cif)
    assert again.residues.addresses() == addresses


def test_gz_and_mmcif_give_identical_environments(tmp_path):
    source = DATA / "strontium__1G1J.pdb.gz"
    cif = tmp_path / "copy.cif"
    gemmi.read_structure(str(source)).make_mmcif_document().write_file(str(cif))
    from_pdb, from_cif = read_structure(source), read_structure(cif)
    assert from_cif.report.source_format == "mmcif" and from_pdb.report.compressed
    for name in ("model", "chain", "resseq", "icode", "seq_index", "resname", "native_aa", "flags"):
        assert np.array_equal(getattr(from_pdb.residues, name), getattr(from_cif.residues, name)), name
    env_pdb, env_cif = residue_environments(from_pdb), residue_environments(from_cif)
    for name in ("coords", "channel", "env_index", "offsets", "residue_rows"):
        assert np.array_equal(getattr(env_pdb, name), getattr(env_cif, name)), name


def test_same_result_from_path_bytes_plain_and_odd_extension(tmp_path):
    source = DATA / "3PC8_l_u.pdb.gz"
    plain = gzip.decompress(source.read_bytes())
    odd = tmp_path / "structure.txt"
    odd.write_bytes(source.read_bytes())  # gzip content behind a .txt name
    results = [
        read_structure(source),
        read_structure(plain, structure_id="3PC8_l_u"),
        read_structure(odd, structure_id="3PC8_l_u"),
    ]
    for other in results[1:]:
        assert np.array_equal(results[0].coords, other.coords)
        assert results[0].residues.to_columns() == other.residues.to_columns()


def test_mse_maps_to_met_and_keeps_its_name():
    parsed = read_structure(DATA / "strontium__1G1J.pdb.gz")
    mse = parsed.residues.resname == "MSE"
    assert mse.sum() > 0
    assert set(parsed.residues.native_aa[mse]) == {"M"}
    assert all("nonstandard:MSE" in flags.split(";") for flags in parsed.residues.flags[mse])
    assert parsed.residues.has_flag("nonstandard:").sum() == mse.sum()


def test_metal_kept_as_context_and_altlocs_resolved():
    parsed = read_structure(DATA / "strontium__1G1J.pdb.gz")
    strontium = parsed.element == 38
    assert strontium.sum() == 1 and parsed.residue_index[strontium][0] == -1
    assert parsed.report.altloc_residues > 0 and parsed.report.altloc_atoms_removed > 0
    assert parsed.report.waters_removed > 0
    # no atom name appears twice within a residue after altloc resolution
    keys = list(zip(parsed.residue_index.tolist(), parsed.atom_name.tolist(), strict=True))
    residue_keys = [key for key in keys if key[0] >= 0]
    assert len(residue_keys) == len(set(residue_keys))


def test_hetero_policies_on_cofactors():
    path = DATA / "beryllium__3A10.pdb.gz"
    kept = read_structure(path)
    assert {"MG", "BEF", "PG4"} <= set(kept.report.hetero_kept_names)
    metals = read_structure(path, ReadPolicy(hetero="metals"))
    context = metals.element[metals.residue_index < 0]
    assert "MG" in metals.report.hetero_kept_names and "PG4" in metals.report.hetero_removed_names
    assert all(gemmi.Element(int(z)).is_metal for z in context)  # Mg, and the Be of BEF
    none = read_structure(path, ReadPolicy(hetero="none"))
    assert (none.residue_index >= 0).all()
    waters = read_structure(path, ReadPolicy(keep_waters=True))
    assert waters.n_atoms == kept.n_atoms + kept.report.waters_removed
    assert kept.residues.to_columns() == none.residues.to_columns()
