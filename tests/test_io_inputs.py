"""Input expansion: directories, patterns, @lists, stdin, duplicates, safe ids, shards."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from protsteer.errors import ProtsteerError
from protsteer.io.inputs import expand_inputs, parse_shard, sanitize_id, shard_files, structure_stem


def _touch(path: Path, text: str = "ATOM\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_directory_recursive_with_default_suffixes(tmp_path):
    _touch(tmp_path / "d" / "a.pdb")
    _touch(tmp_path / "d" / "sub" / "b.cif.gz", "b")
    _touch(tmp_path / "d" / "notes.txt")
    _touch(tmp_path / "d" / ".hidden" / "c.pdb", "c")
    found = expand_inputs([str(tmp_path / "d")], stdin=io.StringIO())
    assert [f.path.name for f in found.files] == ["a.pdb", "b.cif.gz"]
    assert [f.structure_id for f in found.files] == ["a", "b"]


def test_include_exclude_patterns(tmp_path):
    for name in ("x1.pdb", "x2.pdb", "y.pdb", "sub/x3.pdb"):
        _touch(tmp_path / name, name)
    found = expand_inputs([str(tmp_path)], include=["x*.pdb"], exclude=["sub/*"], stdin=io.StringIO())
    assert [f.structure_id for f in found.files] == ["x1", "x2"]


def test_list_file_stdin_and_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "a.pdb", "a")
    _touch(tmp_path / "b.pdb", "b")
    (tmp_path / "list.txt").write_text("# comment\na.pdb\n\nabsent.pdb\n")
    found = expand_inputs(["@list.txt", "-"], stdin=io.StringIO("b.pdb\na.pdb\n"))
    assert [f.structure_id for f in found.files] == ["a", "b"]
    assert found.missing == [Path("absent.pdb")]
    with pytest.raises(ProtsteerError, match="cannot read input list"):
        expand_inputs(["@nolist.txt"], stdin=io.StringIO())


def test_duplicates_other_format_and_same_content(tmp_path):
    _touch(tmp_path / "d1" / "x.pdb.gz", "one")
    _touch(tmp_path / "d1" / "x.cif.gz", "two")
    _touch(tmp_path / "d2" / "x.pdb", "one")  # same content as d1/x.pdb.gz
    _touch(tmp_path / "d3" / "x.pdb", "three")  # a different structure with the same name
    found = expand_inputs([str(tmp_path)], stdin=io.StringIO())
    kept = {f.path.relative_to(tmp_path).as_posix(): f.structure_id for f in found.files}
    assert kept == {"d1/x.cif.gz": "d1__x", "d3/x.pdb": "d3__x"}
    reasons = {d.path.relative_to(tmp_path).as_posix(): d.reason for d in found.duplicates}
    assert reasons == {"d1/x.pdb.gz": "same structure name, other format", "d2/x.pdb": "identical content"}


def test_names_equal_only_once_sanitised_are_different_structures(tmp_path):
    _touch(tmp_path / "d" / "x \u00e9.pdb", "one")
    _touch(tmp_path / "d" / "x \u00e8.pdb", "two")
    _touch(tmp_path / "d" / "x_.pdb", "one")  # the same id and content as the first: a duplicate
    found = expand_inputs([str(tmp_path)], stdin=io.StringIO())
    ids = {f.path.name: f.structure_id for f in found.files}
    assert ids == {"x \u00e8.pdb": "x_", "x \u00e9.pdb": "x___2"}  # sorted by path, then a counter
    assert [(d.path.name, d.kept.name, d.reason) for d in found.duplicates] == [
        ("x_.pdb", "x \u00e9.pdb", "identical content")
    ]


def test_same_file_twice_is_silently_merged(tmp_path):
    path = _touch(tmp_path / "a.pdb")
    found = expand_inputs([str(path), str(tmp_path)], stdin=io.StringIO())
    assert len(found.files) == 1 and not found.duplicates


def test_ids_are_safe_file_names(tmp_path):
    assert sanitize_id("../../etc/passwd") == "_.._etc_passwd"
    assert sanitize_id("..") == "structure" and sanitize_id("") == "structure"
    assert sanitize_id("a b;c") == "a_b_c"
    assert structure_stem("1ABC_l_u.pdb.gz") == "1ABC_l_u" and structure_stem("x.pdb1") == "x.pdb1"
    _touch(tmp_path / "we ird$name.pdb")
    (item,) = expand_inputs([str(tmp_path)], stdin=io.StringIO()).files
    assert item.structure_id == "we_ird_name"


def test_case_insensitive_ids_stay_distinct(tmp_path):
    _touch(tmp_path / "a" / "X.pdb", "1")
    _touch(tmp_path / "a" / "x.pdb", "2")
    ids = [f.structure_id.lower() for f in expand_inputs([str(tmp_path)], stdin=io.StringIO()).files]
    assert len(set(ids)) == 2


def test_shards_partition_sorted_inputs(tmp_path):
    for i in range(7):
        _touch(tmp_path / f"s{i}.pdb", str(i))
    files = expand_inputs([str(tmp_path)], stdin=io.StringIO()).files
    shards = [shard_files(files, (i, 3)) for i in range(3)]
    assert sorted(f.structure_id for s in shards for f in s) == [f.structure_id for f in files]
    assert all(not set(a) & set(b) for a in shards for b in shards if a is not b)
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x", "-1/2"):
        with pytest.raises(ProtsteerError):
            parse_shard(bad)
