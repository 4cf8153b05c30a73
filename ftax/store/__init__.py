"""Records on disk: the record schema, the JSONL store, the machine fingerprint, errors.

The versioned record schema (`schema`), the append-only JSONL store (`jsonl`), which stored record
counts when a sweep resumes (`resume`), the records as a pandas frame (`dataframe`), the machine
fingerprint (`env`), the errors the command line prints as one line (`errors`), fd-2 redirection
(`redirect`). The bottom layer: every other may import it.

May import: store.
"""
