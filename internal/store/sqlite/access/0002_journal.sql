-- How far each access journal file is linked into the trail (see store.OpenAccessJournal),
-- written in the transaction that links its entries: after a crash the file is replayed
-- from there, so no entry is linked twice or lost.
CREATE TABLE journal_flushed (
    name TEXT PRIMARY KEY,
    upto INTEGER NOT NULL,
    at INTEGER NOT NULL
);
