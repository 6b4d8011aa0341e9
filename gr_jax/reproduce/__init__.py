"""`gr-jax reproduce`: a paper's table row from the peers' processed files, one command per row.

Modules: `published` (the papers' numbers, published.csv), `registry` (papers, datasets,
methods and the peer files each needs), `budget` (paper / scaled CPU budgets from the paper
gin files), `peer_sids` (peers' SIDs with their duplicates kept or split by an extra level),
`rank` (per-user ranks of one model or SASRec, run as a subprocess), `stats` (confidence
intervals), `report` (reproduce.md/json + learning curve), `runner` (the resumable stages)
and `cli` (the flags).
"""
