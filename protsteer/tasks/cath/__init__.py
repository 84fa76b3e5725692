"""CATH architecture classification: data loaders (domains.tsv, CATH lists + boundaries, the paper's npz),
the task for the shared training loop, evaluation tables and the ``cath`` prediction table."""
