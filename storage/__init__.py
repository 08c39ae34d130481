"""Where labelloop keeps things in its DataStore, and the small pointer documents there.

- `storage.layout`: every store key (raw, clean, quarantine, duplicates, labels and their
  pointer, models, the champion, monitoring, state). Nothing else writes a key.
- `storage.pointers`: the labels pointer (`latest.json`) and the trained-labels record.

Pure: imports no prefect and does no I/O.
"""
