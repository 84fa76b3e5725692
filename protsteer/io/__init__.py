"""protsteer.io: files in and out, no science (leaf-level: imports nothing above ``protsteer.errors``, except
that :func:`protsteer.io.weights.load_weights` rebuilds networks and voxel specs on demand).

Modules::

    atomic      atomic_open / atomic_write_bytes / atomic_write_text (temp file + fsync + rename)
    tables      Column, TableWriter, write_table, iter_rows, read_header: tsv / csv / jsonl / parquet
    weights     save_weights, load_weights -> LoadedWeights, register_weights (weights-only, sha256-checked)
    inputs      expand_inputs (files, directories, @lists, stdin; duplicates; safe ids), parse_shard
    rundir      RunDirectory: parts + manifest.jsonl (resume), errors.tsv
    batch       BatchRun: one resumable batch command (inputs, shards, errors, final tables, run.json)
    merge       merge_runs: join shard output directories
    provenance  run.json records
"""
