"""Records on disk: the record schema, the JSONL store, the machine fingerprint, errors.

The versioned record schema, the append-only JSONL store and its loader, the machine fingerprint,
the errors the command line prints as one line, fd-2 redirection. The bottom layer: every other may
import it.

May import: store.
"""
