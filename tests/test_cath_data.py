"""CATH data loaders: domains.tsv, CATH domain list + boundaries + structure directory, the paper's npz."""

from __future__ import annotations

import numpy as np
import pytest

from protsteer.errors import ProtsteerError
from protsteer.tasks.cath.data_clf import (
    assign_topology_splits,
    boundaries_to_segments,
    load_clf,
    read_boundaries,
    read_domain_list,
    structure_stem,
)
from protsteer.tasks.cath.data_npz import read_paper_npz
from protsteer.tasks.cath.data_tsv import read_domains_tsv
from protsteer.tasks.cath.labels import architecture_of, choose_label_set, count_distinct
from protsteer.voxel import VoxelSpec, principal_frame

CA_SPEC = VoxelSpec(box_size=27.0, voxel_size=3.0, sigma=1.5, channels=("CA",))


def write_paper_npz(path, proteins, labels, split_sizes, atom_type=b"CA"):
    """Write proteins ([n_i, 3] arrays) in the paper's padded npz layout (keys as in cath_10arch_ca.npz)."""
    width = max(len(p) for p in proteins)
    positions = np.zeros((len(proteins), width, 3), dtype=np.float32)
    atom_types = np.full((len(proteins), width), b"", dtype="S2")
    res_indices = np.zeros((len(proteins), width), dtype=np.int32)
    for i, p in enumerate(proteins):
        positions[i, : len(p)] = p
        positions[i, len(p) :] = 999.0  # padding must be ignored
        atom_types[i, : len(p)] = atom_type
        res_indices[i, : len(p)] = np.arange(len(p))
    starts = np.concatenate([[0], np.cumsum(split_sizes)[:-1]])
    np.savez(
        path,
        n_atoms=np.array([len(p) for p in proteins], dtype=np.int32),
        atom_types=atom_types,
        res_indices=res_indices,
        positions=positions,
        labels=np.asarray(labels, dtype=np.int32),
        split_start_indices=starts.astype(np.int32),
    )


def test_npz_reader_splits_labels_and_padding(tmp_path):
    rng = np.random.default_rng(1)
    split_sizes = [2, 1, 1, 1, 1, 1, 1, 2, 1, 2]  # 13 proteins in ten splits
    n = sum(split_sizes)
    proteins = [rng.normal(size=(5 + i, 3)).astype(np.float32) * 10 for i in range(n)]
    labels = [(1 + i % 3, 10 * (1 + i % 4)) for i in range(n)]
    path = tmp_path / "cath_10arch_ca.npz"
    write_paper_npz(path, proteins, labels, split_sizes)

    domains = read_paper_npz(path, CA_SPEC)

    assert domains.loaded and len(domains) == n
    assert [r.split for r in domains.records] == ["train"] * 8 + ["val"] * 2 + ["test"] * 3
    assert [r.architecture for r in domains.records] == [f"{c}.{a}" for c, a in labels]
    for expected, got, channel in zip(proteins, domains.coords, domains.channel, strict=True):
        # padding (999) dropped; centred on the CA centroid
        np.testing.assert_allclose(got, expected - expected.mean(axis=0), atol=1e-5)
        assert set(channel.tolist()) == {0}
    for expected, axes in zip(proteins, domains.axes, strict=True):
        np.testing.assert_allclose(axes, principal_frame(expected), atol=1e-9)
    assert len({r.dedup_key for r in domains.records}) == n
    assert len(domains.split("val")) == 2 and len(domains.split("test")) == 3


def test_npz_reader_rejects_wrong_files(tmp_path):
    np.savez(tmp_path / "bad.npz", positions=np.zeros((2, 3, 3)))
    with pytest.raises(ProtsteerError, match="lacks keys"):
        read_paper_npz(tmp_path / "bad.npz", CA_SPEC)
    path = tmp_path / "class_only.npz"
    write_paper_npz(path, [np.zeros((3, 3))] * 10, [[1]] * 10, [1] * 10)
    with pytest.raises(ProtsteerError, match="class, architecture"):
        read_paper_npz(path, CA_SPEC)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ProtsteerError):
        read_paper_npz(tmp_path / "junk.npz", CA_SPEC)


def test_architecture_codes_are_strings():
    assert architecture_of("3.40.50.300") == "3.40"
    assert architecture_of("2.100.10.10") == "2.100"
    assert architecture_of("1.10") == "1.10"
    with pytest.raises(ProtsteerError):
        architecture_of("3")


def test_label_set_by_distinct_training_domains():
    counts = count_distinct(
        [("3.40", "a"), ("3.40", "a"), ("3.40", "b"), ("2.100", "c"), ("2.60", "d"), ("2.60", "e")]
    )
    assert counts == {"3.40": 2, "2.100": 1, "2.60": 2}
    assert choose_label_set(counts, 2) == ["2.60", "3.40"]
    assert choose_label_set(counts, 1) == ["2.60", "2.100", "3.40"]  # numeric, not string, order
    with pytest.raises(ProtsteerError):
        choose_label_set(counts, 3)


def test_domains_tsv_real(shared_data):
    domains = read_domains_tsv(shared_data)
    assert {r.split for r in domains.records} == {"train", "val", "test"}
    assert all(r.file is not None and r.file.is_file() for r in domains.records[:50])
    counts = domains.distinct_counts()
    # README: distinct S35 representatives per split
    assert sum(n for (s, _), n in counts.items() if s == "train") == 560
    assert sum(n for (s, _), n in counts.items() if s == "test") == 133
    # a topology never spans two splits
    topo_splits: dict[str, set[str]] = {}
    for r in domains.records:
        topo_splits.setdefault(r.topology, set()).add(r.split)
    assert all(len(s) == 1 for s in topo_splits.values())


def test_domains_tsv_synthetic_and_errors(tmp_path):
    (tmp_path / "cath").mkdir()
    (tmp_path / "structures").mkdir()
    (tmp_path / "structures" / "x.pdb").write_text("END\n")
    header = "domain_id\tfile\tchain\tsegments\tcath_code\tsplit\tcath_domain\n"
    rows = [
        "x:A/1abcA00\tstructures/x.pdb\tA\tA:1-50\t3.40.50.300\ttrain\t1abcA00\n",
        "x:B/1abcA00\tstructures/x.pdb\tB\tB:1A-50\t3.40.50.300\ttrain\t1abcA00\n",
        "x:C/2xyzA01\tstructures/x.pdb\tC\tC:-3-20\t2.60.40.10\tholdout\t2xyzA01\n",
    ]
    (tmp_path / "cath" / "domains.tsv").write_text(header + "".join(rows))
    domains = read_domains_tsv(tmp_path)
    assert [r.domain_id for r in domains.records] == ["x:A/1abcA00", "x:B/1abcA00"]  # holdout skipped
    assert domains.records[1].segments == "B:1A-50"
    assert domains.train_domain_counts() == {"3.40": 1}  # two copies, one domain
    (tmp_path / "cath" / "domains.tsv").write_text(header + rows[0].replace("x.pdb", "y.pdb"))
    with pytest.raises(ProtsteerError, match="not found"):
        read_domains_tsv(tmp_path)


def test_cath_boundary_strings():
    assert boundaries_to_segments("A.7-16,216-293") == "A:7-16,A:216-293"
    assert boundaries_to_segments("A.1A-181") == "A:1A-181"
    assert boundaries_to_segments("A.-3-50,B.5-9") == "A:-3-50,B:5-9"
    assert boundaries_to_segments("0.1-20") == "_:1-20"
    assert boundaries_to_segments("A:1-5,A:9-12") == "A:1-5,A:9-12"
    with pytest.raises(ProtsteerError):
        boundaries_to_segments("7-16")
    with pytest.raises(ProtsteerError):
        boundaries_to_segments("A.7_16")


CLF_LINES = """\
# a comment
1abcA01     3    40    50    10     1     1     1     1     1   120 1.800
1abcA02     2    60    40    10     4     1     1     1     1    80 1.800
2xyzB00     1    10    10    10     2     1     1     1     1    60 2.000
9nosA00     1    10    10    10     3     1     1     1     1    60 2.000
"""


def test_clf_with_boundaries_and_dompdb(tmp_path):
    (tmp_path / "list.txt").write_text(CLF_LINES)
    (tmp_path / "bounds.txt").write_text(
        "1abcA01 3.40.50.10.1 A.1-100,150-170\n1abcA02 2.60.40.10.4 A.101-149\n"
    )
    structures = tmp_path / "structures"
    (structures / "sub").mkdir(parents=True)
    (structures / "1ABC.cif.gz").write_bytes(b"")
    (structures / "sub" / "2xyzB00").write_text("END\n")  # a CATH dompdb file

    entries = read_domain_list(tmp_path / "list.txt")
    assert entries["1abcA02"].cath_code == "2.60.40.10" and entries["1abcA02"].length == 80
    assert read_boundaries(tmp_path / "bounds.txt")["1abcA01"] == "A:1-100,A:150-170"

    domains = load_clf(tmp_path / "list.txt", structures, tmp_path / "bounds.txt")
    by_id = {r.domain_id: r for r in domains.records}
    assert set(by_id) == {"1abcA01", "1abcA02", "2xyzB00"}  # 9nos has no file
    assert by_id["1abcA01"].segments == "A:1-100,A:150-170" and by_id["1abcA01"].chain == "A"
    assert by_id["1abcA01"].file.name == "1ABC.cif.gz"
    assert by_id["2xyzB00"].segments == "" and by_id["2xyzB00"].file.name == "2xyzB00"
    assert by_id["1abcA02"].architecture == "2.60" and by_id["1abcA02"].dedup_key == "2.60.40.10.4"

    with pytest.raises(ProtsteerError, match="CLF"):
        (tmp_path / "bad.txt").write_text("1abcA01 3 40\n")
        read_domain_list(tmp_path / "bad.txt")


def test_structure_stems():
    from pathlib import Path

    assert structure_stem(Path("pdb1abc.ent.gz")) == "pdb1abc"
    assert structure_stem(Path("1ABC.cif.gz")) == "1abc"
    assert structure_stem(Path("1abcA00")) == "1abca00"


def test_topology_splits_keep_topologies_together():
    topologies = [f"3.40.{i % 17}" for i in range(300)] + [f"1.10.{i % 5}" for i in range(100)]
    splits = assign_topology_splits(topologies, (0.7, 0.1, 0.2), seed=3)
    assert set(splits) == set(topologies)
    shares = {s: sum(splits[t] == s for t in topologies) / len(topologies) for s in ("train", "val", "test")}
    assert 0.55 < shares["train"] < 0.85 and shares["val"] > 0 and shares["test"] > 0
    assert splits == assign_topology_splits(topologies, (0.7, 0.1, 0.2), seed=3)
    others = [assign_topology_splits(topologies, (0.7, 0.1, 0.2), seed=seed) for seed in range(4, 8)]
    assert any(other != splits for other in others)  # the seed chooses which topologies go where
    assert all(set(other.values()) == {"train", "val", "test"} for other in others)


def test_clf_loads_coordinates_from_whole_entries_and_dompdb(shared_subset, tmp_path):
    import shutil

    from protsteer.tasks.cath.task import CathData, load_cath_data

    structures = tmp_path / "structures"
    structures.mkdir()
    lysozyme = shared_subset / "structures/acdc_ddg/107l.pdb.gz"
    shutil.copy(lysozyme, structures / "107l.pdb.gz")  # whole entry, cut with boundaries
    shutil.copy(lysozyme, structures / "108lA00.pdb.gz")  # a "dompdb" file: the whole file is the domain
    (tmp_path / "list.txt").write_text(
        "107lA01     1    10   530    40     1     1     1     1     1    80 1.700\n"
        "108lA00     1    10   530    40     2     1     1     1     1   164 1.700\n"
    )
    (tmp_path / "bounds.txt").write_text("107lA01 1.10.530.40.1 A.1-60,81-100\n")
    data = CathData(
        source="clf",
        data=structures,
        domain_list=tmp_path / "list.txt",
        boundaries=tmp_path / "bounds.txt",
        spec=CA_SPEC,
    )  # one topology: all in train
    domains = load_cath_data(data, ("train",))
    sizes = {r.domain_id: len(c) for r, c in zip(domains.records, domains.coords, strict=True)}
    from protsteer.structure import read_structure

    assert sizes == {"107lA01": 80, "108lA00": read_structure(lysozyme).n_residues}  # one CA per residue
    # the principal axes travel with the atoms, and the local frame of the dataset is predict's
    from protsteer.tasks.cath.task import DomainAtomsDataset
    from protsteer.voxel import domain_environment

    assert domains.loaded and all(np.allclose(a @ a.T, np.eye(3)) for a in domains.axes)
    whole = domains.records.index(next(r for r in domains.records if r.domain_id == "108lA00"))
    labels = sorted({r.architecture for r in domains.records})
    local_coords, _, _ = DomainAtomsDataset(domains, labels, frame="local")[whole]
    expected = domain_environment(read_structure(lysozyme), CA_SPEC, frame="local").coords
    np.testing.assert_allclose(local_coords, expected, atol=1e-4)
    assert DomainAtomsDataset(domains, labels)[whole][0] is domains.coords[whole]
    assert len(domains.subset([whole]).axes) == 1
