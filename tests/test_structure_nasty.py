"""Synthetic nasty inputs written in the tests: altlocs, insertion codes, odd residues, broken files."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import gemmi
import numpy as np
import pytest

from protsteer.errors import ProtsteerError
from protsteer.structure import ReadPolicy, parse_residue_selection, read_structure, select_residues

# Side-chain offsets (Angstrom) from CA for the few residue types the synthetic files use.
SIDECHAINS = {
    "GLY": [],
    "ALA": [("CB", "C")],
    "SER": [("CB", "C"), ("OG", "O")],
    "MET": [("CB", "C"), ("CG", "C"), ("SD", "S"), ("CE", "C")],
    "MSE": [("CB", "C"), ("CG", "C"), ("SE", "SE"), ("CE", "C")],
    "XYZ": [("CB", "C"), ("CG", "C")],
}


def atom_line(
    serial, name, resname, chain, resseq, x, y, z, element, altloc=" ", icode=" ", occ=1.0, record="ATOM"
):
    padded = f" {name:<3}" if len(name) < 4 and len(element.strip()) == 1 else f"{name:<4}"
    return (
        f"{record:<6}{serial:>5} {padded}{altloc}{resname:>3} {chain}{resseq:>4}{icode}   "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{20.0:6.2f}          {element:>2}"
    )


def residue_lines(
    resname,
    chain,
    resseq,
    index,
    icode=" ",
    altloc=" ",
    occ=1.0,
    record="ATOM",
    skip=(),
    shift=(0.0, 0.0, 0.0),
):
    """A residue with an idealised backbone placed along x (CA every 3.8 Angstrom)."""
    x0 = 3.8 * index + shift[0]
    y0, z0 = shift[1], shift[2]
    atoms = [
        ("N", "N", x0 - 1.2, 0.8, 0.0),
        ("CA", "C", x0, 0.0, 0.0),
        ("C", "C", x0 + 1.3, 0.6, 0.2),
        ("O", "O", x0 + 1.5, 1.8, 0.4),
    ]
    atoms += [
        (name, el, x0 + 0.3 * k, -1.0 - 1.2 * k, 0.5 + 0.2 * k)
        for k, (name, el) in enumerate(SIDECHAINS.get(resname, SIDECHAINS["XYZ"]))
    ]
    return [
        atom_line(0, name, resname, chain, resseq, x, y + y0, z + z0, el, altloc, icode, occ, record)
        for name, el, x, y, z in atoms
        if name not in skip
    ]


def pdb_text(lines):
    numbered = [line[:6] + f"{i + 1:>5}" + line[11:] for i, line in enumerate(lines)]
    return ("\n".join(numbered) + "\nEND\n").encode()


def chain_of(n, chain="A", resname="ALA", start=1):
    lines = []
    for i in range(n):
        lines += residue_lines(resname, chain, start + i, i)
    return lines


def test_headerless_pdb_with_no_end_record():
    text = "\n".join(chain_of(4)).encode()
    parsed = read_structure(text)
    assert parsed.n_residues == 4 and parsed.structure_id == "stdin"
    assert parsed.report.source_format == "pdb"


def test_microheterogeneity_takes_the_higher_occupancy_name():
    lines = chain_of(1)
    lines += residue_lines("SER", "A", 2, 1, altloc="A", occ=0.4)
    lines += residue_lines("ALA", "A", 2, 1, altloc="B", occ=0.6)
    lines += residue_lines("GLY", "A", 3, 2)
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.resname.tolist() == ["ALA", "ALA", "GLY"]
    assert parsed.residues.flags[1].split(";") == ["altloc", "microhetero"]
    assert parsed.report.microhetero_residues == 1
    own = parsed.residue_index == 1
    assert sorted(parsed.atom_name[own].tolist()) == ["C", "CA", "CB", "N", "O"]
    first = read_structure(pdb_text(lines), ReadPolicy(altloc="first"))
    assert first.residues.resname[1] == "SER"


def test_altloc_occupancy_tie_takes_the_first():
    lines = chain_of(1)
    lines += residue_lines("SER", "A", 2, 1, altloc="A", occ=0.5)
    lines += residue_lines("ALA", "A", 2, 1, altloc="B", occ=0.5)
    assert read_structure(pdb_text(lines)).residues.resname[1] == "SER"


def test_partial_altloc_side_chain_keeps_one_copy_per_atom():
    lines = residue_lines("SER", "A", 1, 0, skip=("CB", "OG"))
    side = residue_lines("SER", "A", 1, 0)[4:]
    lines += [line[:16] + "A" + line[17:54] + "  0.30" + line[60:] for line in side]
    lines += [
        line[:16]
        + "B"
        + line[17:30]
        + f"{float(line[30:38]) + 0.5:8.3f}"
        + line[38:54]
        + "  0.70"
        + line[60:]
        for line in side
    ]
    parsed = read_structure(pdb_text(lines))
    assert sorted(parsed.atom_name.tolist()) == ["C", "CA", "CB", "N", "O", "OG"]
    chosen_cb = parsed.coords[parsed.atom_name == "CB"][0]
    assert chosen_cb[0] == pytest.approx(3.8 * 0 + 0.5, abs=1e-3)  # the B (0.70) copy
    assert parsed.report.altloc_atoms_removed == 2


def test_insertion_codes_and_out_of_order_residues_are_never_renumbered():
    lines = []
    for index, (resseq, icode) in enumerate([(10, " "), (10, "A"), (10, "B"), (7, " "), (11, " ")]):
        lines += residue_lines("ALA", "A", resseq, index, icode=icode)
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.addresses() == ["A:10", "A:10A", "A:10B", "A:7", "A:11"]
    assert parsed.residues.seq_index.tolist() == [0, 1, 2, 3, 4]
    assert select_residues(parsed.residues, "A:10-10B").tolist() == [True, True, True, False, False]
    assert select_residues(parsed.residues, "A:10A").tolist() == [False, True, False, False, False]


def test_mse_as_atom_and_as_hetatm():
    lines = chain_of(1)
    lines += residue_lines("MSE", "A", 2, 1, record="ATOM")
    lines += residue_lines("MSE", "A", 3, 2, record="HETATM")
    lines += residue_lines("GLY", "A", 4, 3)
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.resname.tolist() == ["ALA", "MSE", "MSE", "GLY"]
    assert parsed.residues.native_aa.tolist() == ["A", "M", "M", "G"]
    assert parsed.residues.flags[1] == "nonstandard:MSE"
    assert parsed.residues.flags[2] == "nonstandard:MSE;hetatm"
    selenium = parsed.element == 34
    assert selenium.sum() == 2 and parsed.is_sidechain[selenium].all()


def test_unknown_residues_are_kept_with_native_x():
    lines = chain_of(1)
    lines += residue_lines("XYZ", "A", 2, 1, record="HETATM")  # not in gemmi's table, has N/CA/C
    lines += residue_lines("UNK", "A", 3, 2)
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.native_aa.tolist() == ["A", "X", "X"]
    assert parsed.residues.flags[1] == "nonstandard:XYZ;unknown;hetatm"
    assert parsed.residues.flags[2] == "unknown"
    assert parsed.residues.aa_index.tolist() == [0, -1, -1]


def test_residue_without_ca_is_skipped_logged_and_kept_as_context(caplog):
    lines = chain_of(1)
    lines += residue_lines("SER", "A", 2, 1, skip=("CA",))
    lines += residue_lines("ALA", "A", 3, 2, skip=("N", "O"))
    with caplog.at_level(logging.INFO, logger="protsteer.structure.reading"):
        parsed = read_structure(pdb_text(lines))
    assert parsed.residues.addresses() == ["A:1", "A:3"]
    assert [(s.address, s.resname, s.reason) for s in parsed.skipped] == [("A:2", "SER", "no CA atom")]
    assert "A:2" in caplog.text
    assert (parsed.residue_index == -1).sum() == 5  # N, C, O, CB, OG of the skipped SER
    assert parsed.residues.flags[1].split(";") == ["no_N", "no_O", "chain_break", "unlinked"]
    assert np.isnan(parsed.virtual_cb[1]).all() and np.isfinite(parsed.virtual_cb[0]).all()


def test_missing_sidechain_flag():
    lines = residue_lines("MET", "A", 1, 0, skip=("SD", "CE")) + residue_lines("MET", "A", 2, 1)
    assert read_structure(pdb_text(lines)).residues.flags.tolist() == ["missing_sidechain", ""]


def test_chain_break_flag_from_ca_distance():
    lines = chain_of(2) + residue_lines("ALA", "A", 3, 4)  # 7.6 Angstrom gap
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.flags.tolist() == ["", "", "chain_break;unlinked"]  # a one-residue fragment


def nmr_text():
    lines = ["MODEL        1", *chain_of(3, resname="SER"), "ENDMDL", "MODEL        2"]
    lines += [line for line in chain_of(3, resname="SER") if " OG " not in line]  # different atom set
    lines += residue_lines("ALA", "A", 4, 3)
    lines += ["ENDMDL"]
    serial = 0
    out = []
    for line in lines:
        if line.startswith("ATOM"):
            serial += 1
            line = line[:6] + f"{serial:>5}" + line[11:]
        out.append(line)
    return ("\n".join(out) + "\nEND\n").encode()


def test_nmr_models_with_different_atom_sets():
    first = read_structure(nmr_text())
    assert first.n_residues == 3 and first.report.models_in_file == 2 and first.model_numbers == (1,)
    second = read_structure(nmr_text(), ReadPolicy(model=2))
    assert second.n_residues == 4 and not (second.atom_name == "OG").any()
    both = read_structure(nmr_text(), ReadPolicy(model="all"))
    assert both.residues.model.tolist() == [1, 1, 1, 2, 2, 2, 2]
    assert both.residues.seq_index.tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert np.array_equal(np.unique(both.atom_model), [1, 2])
    with pytest.raises(ProtsteerError, match="no model 3"):
        read_structure(nmr_text(), ReadPolicy(model=3))


def test_multi_letter_chain_ids_in_mmcif(tmp_path):
    structure = gemmi.read_pdb_string(pdb_text(chain_of(3) + chain_of(2, chain="B")).decode())
    structure[0]["A"].name = "AB1"
    structure[0]["B"].name = "xyz"
    path = tmp_path / "multi.cif.gz"
    path.write_bytes(gzip.compress(structure.make_mmcif_document().as_string().encode()))
    parsed = read_structure(path)
    assert parsed.structure_id == "multi"
    assert parsed.residues.chain.tolist() == ["AB1"] * 3 + ["xyz"] * 2
    assert select_residues(parsed.residues, "AB1:2-3,xyz:1").sum() == 3


def test_mmjson_is_detected_by_content(tmp_path):
    structure = gemmi.read_pdb_string(pdb_text(chain_of(3)).decode())
    structure.setup_entities()
    path = tmp_path / "entry.mmjson"
    path.write_text(structure.make_mmcif_document().as_json(mmjson=True))
    parsed = read_structure(path)
    assert (
        parsed.report.source_format == "mmjson" and parsed.structure_id == "entry" and parsed.n_residues == 3
    )


def test_hydrogens_waters_and_hetero_groups():
    lines = chain_of(2)
    lines.append(atom_line(0, "H", "ALA", "A", 1, 0.0, 0.5, 0.5, "H"))
    lines.append(atom_line(0, "O", "HOH", "A", 101, 9.0, 9.0, 9.0, "O", record="HETATM"))
    lines.append(atom_line(0, "ZN", "ZN", "A", 102, 5.0, 5.0, 5.0, "ZN", record="HETATM"))
    lines.append(atom_line(0, "S", "SO4", "A", 103, 6.0, 5.0, 5.0, "S", record="HETATM"))
    lines.append(atom_line(0, "O1", "SO4", "A", 103, 6.0, 6.0, 5.0, "O", record="HETATM"))
    lines.append(atom_line(0, "FE", "HEM", "A", 104, 7.0, 5.0, 5.0, "FE", record="HETATM"))
    lines.append(atom_line(0, "NA", "HEM", "A", 104, 7.0, 6.0, 5.0, "N", record="HETATM"))
    text = pdb_text(lines)
    default = read_structure(text)
    assert default.report.hydrogens_removed == 1 and default.report.waters_removed == 1
    assert default.report.hetero_kept_names == ("HEM", "ZN") and default.report.hetero_removed_names == (
        "SO4",
    )
    assert sorted(default.element[default.residue_index < 0].tolist()) == [7, 26, 30]
    everything = read_structure(text, ReadPolicy(hetero="all", keep_waters=True, keep_hydrogens=True))
    assert everything.n_atoms == default.n_atoms + 4  # H, water O, two SO4 atoms
    metals = read_structure(text, ReadPolicy(hetero="metals"))
    assert sorted(metals.element[metals.residue_index < 0].tolist()) == [26, 30]
    assert read_structure(text, ReadPolicy(hetero="none")).report.hetero_atoms_kept == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"   \n\n", "empty file"),
        (bytes(range(256)) * 40, "binary data"),
        (b"\x89PNG\r\n\x1a\n" + bytes(1000), "binary data"),
        (gzip.compress(b"ATOM  ")[:-6], "truncated gzip"),
        (b"\x1f\x8b\x08\x00garbage-after-magic" * 3, "corrupt gzip"),
        (b"HELLO WORLD\nthis is not a structure\n", "no atoms found"),
        (b"data_x\nloop_\n_atom_site.id\n_atom_site.Cartn_x\n1 2\n3", "cannot parse mmcif"),
    ],
)
def test_bad_content_raises_one_line_protsteer_error(content, reason):
    with pytest.raises(ProtsteerError, match=reason) as info:
        read_structure(content)
    assert "\n" not in str(info.value)


def test_truncated_mmcif_raises(tmp_path):
    structure = gemmi.read_pdb_string(pdb_text(chain_of(5)).decode())
    text = structure.make_mmcif_document().as_string()
    cut = text[: text.index("_atom_site.group_PDB") + 20]
    with pytest.raises(ProtsteerError, match="truncated.cif"):
        path = tmp_path / "truncated.cif"
        path.write_text(cut)
        read_structure(path)


def test_only_waters_and_ligands():
    lines = [atom_line(0, "O", "HOH", "A", i, float(i), 0.0, 0.0, "O", record="HETATM") for i in range(5)]
    lines.append(atom_line(0, "ZN", "ZN", "A", 9, 5.0, 5.0, 5.0, "ZN", record="HETATM"))
    with pytest.raises(ProtsteerError, match="no protein residues with CA"):
        read_structure(pdb_text(lines))


def test_file_system_errors_and_size_limit(tmp_path):
    with pytest.raises(ProtsteerError, match="no such file"):
        read_structure(tmp_path / "missing.pdb")
    with pytest.raises(ProtsteerError, match="is a directory"):
        read_structure(tmp_path)
    big = tmp_path / "big.pdb"
    big.write_bytes(pdb_text(chain_of(5)))
    with pytest.raises(ProtsteerError, match="too large"):
        read_structure(big, ReadPolicy(max_bytes=100))
    bomb = tmp_path / "bomb.pdb.gz"
    bomb.write_bytes(gzip.compress(b" " * 100_000))
    with pytest.raises(ProtsteerError, match="exceeds the limit"):
        read_structure(bomb, ReadPolicy(max_bytes=50_000))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1abc.pdb", "1abc"),
        ("1abc.cif.gz", "1abc"),
        ("pdb1abc.ent.gz", "pdb1abc"),
        ("model_01", "model_01"),
        ("x.mmjson", "x"),
        ("y.json", "y"),
        ("z.txt", "z.txt"),
    ],
)
def test_structure_id_from_file_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(pdb_text(chain_of(2)))
    assert read_structure(path).structure_id == expected
    assert read_structure(path, structure_id="given").residues.structure_id == "given"


def test_policy_validation_and_round_trip():
    policy = ReadPolicy(model=2, hetero="metals", keep_waters=True)
    assert ReadPolicy.from_dict(policy.to_dict()) == policy
    for bad in ({"model": "last"}, {"altloc": "best"}, {"hetero": "some"}, {"max_bytes": 0}, {"model": True}):
        with pytest.raises(ProtsteerError):
            ReadPolicy(**bad)
    with pytest.raises(ProtsteerError, match="unknown read policy"):
        ReadPolicy.from_dict({"colour": "red"})


def test_selection_errors():
    parsed = read_structure(pdb_text(chain_of(3)))
    for bad in ("A10", ":", "A::", "A:1-", "A:5-2", ":3", "A:1,,A:2", ""):
        with pytest.raises(ProtsteerError):
            select_residues(parsed.residues, bad)
    with pytest.raises(ProtsteerError, match="matches no residue"):
        select_residues(parsed.residues, "B:1")
    assert not select_residues(parsed.residues, "B:1", strict=False).any()
    assert select_residues(parsed.residues, " A:-5-2 ").tolist() == [True, True, False]
    with pytest.raises(ProtsteerError, match="chain A10 matches no residue"):  # a bare item is a chain
        select_residues(parsed.residues, "A10")


def test_bare_chain_selects_the_whole_chain():
    lines = chain_of(3) + chain_of(2, chain="B", start=7) + chain_of(2, chain="C", start=1)
    residues = read_structure(pdb_text(lines)).residues
    assert residues.chain.tolist() == ["A"] * 3 + ["B"] * 2 + ["C"] * 2
    assert np.flatnonzero(select_residues(residues, "B")).tolist() == [3, 4]
    assert np.flatnonzero(select_residues(residues, "C, A:2")).tolist() == [1, 5, 6]
    blank = read_structure(pdb_text(chain_of(3, chain=" "))).residues
    assert blank.chain.tolist() == [""] * 3  # an old PDB file without chain ids: chain _ names it
    assert np.flatnonzero(select_residues(blank, "_:2-3")).tolist() == [1, 2]
    assert select_residues(blank, "_").all()
    ranges = parse_residue_selection("B,A:1-2")
    assert [str(r) for r in ranges] == ["B", "A:1-2"]
    assert np.flatnonzero(select_residues(residues, "B:")).tolist() == [3, 4]  # CHAIN: is the whole chain too


def test_a_chain_named_by_digits_is_selected_whole_with_a_trailing_colon():
    lines = chain_of(2, chain="1") + chain_of(3, chain="2", start=5)
    residues = read_structure(pdb_text(lines)).residues
    assert np.flatnonzero(select_residues(residues, "2:")).tolist() == [2, 3, 4]
    assert np.flatnonzero(select_residues(residues, "2:6-7, 1:")).tolist() == [0, 1, 3, 4]
    with pytest.raises(ProtsteerError, match=r"has no chain \(write CHAIN:2; all of a chain named '2': 2:\)"):
        select_residues(residues, "2")


def test_path_objects_and_strings_agree(tmp_path):
    path = tmp_path / "s.pdb"
    path.write_bytes(pdb_text(chain_of(3)))
    assert read_structure(str(path)).residues.to_columns() == read_structure(Path(path)).residues.to_columns()


def test_old_style_id_and_serial_in_columns_73_to_80():
    lines = [line[:66] + "   1  " + f"1ACB{1930 + i}" for i, line in enumerate(chain_of(3, resname="MET"))]
    parsed = read_structure(pdb_text(lines))
    assert parsed.report.atom_tail_columns_ignored
    assert sorted(set(parsed.element.tolist())) == [6, 7, 8, 16]  # inferred from the atom names
    assert parsed.n_residues == 3


def test_invalid_charge_columns_are_ignored():
    lines = [line[:78] + "70" for line in chain_of(2)]
    parsed = read_structure(pdb_text(lines))
    assert parsed.report.atom_tail_columns_ignored and parsed.n_residues == 2
    assert not read_structure(pdb_text(chain_of(2))).report.atom_tail_columns_ignored


def test_d_amino_acids_and_free_amino_acid_ligands():
    lines = chain_of(2)
    lines += residue_lines("DVA", "A", 3, 2, record="HETATM")
    lines += residue_lines("GLN", "A", 101, 8, record="HETATM")  # a free glutamine far away
    parsed = read_structure(pdb_text(lines))
    assert parsed.residues.native_aa.tolist() == ["A", "A", "X", "Q"]
    assert parsed.residues.flags[2] == "nonstandard:DVA;unknown;d_amino_acid;hetatm"
    assert parsed.residues.flags[3] == "hetatm;missing_sidechain;chain_break;unlinked"
    assert parsed.residues.flags[:2].tolist() == ["", ""]


def test_mmcif_residue_without_any_sequence_number_is_a_one_line_error(tmp_path):
    structure = gemmi.read_pdb_string(pdb_text(chain_of(2)).decode())
    structure.setup_entities()
    document = structure.make_mmcif_document()
    for tag in ("_atom_site.auth_seq_id", "_atom_site.label_seq_id"):
        column = document.sole_block().find_values(tag)
        for row in range(len(column)):
            column[row] = "?"
    path = tmp_path / "unnumbered.cif"
    path.write_text(document.as_string())
    with pytest.raises(ProtsteerError, match="has no sequence number") as raised:
        read_structure(path)
    assert "\n" not in str(raised.value) and "unnumbered.cif" in str(raised.value)
