-- pollen-store, SQLite, version 8: the Sage rate budget.
--
-- One token bucket per Sage business, shared by every process on this database (an embedded
-- database opened exclusively keeps its budget in memory instead): `tokens` as of `updated_at`
-- (microseconds since the epoch). Each API call takes one token in one transaction.
CREATE TABLE rate_budget (
    business   TEXT    PRIMARY KEY,
    tokens     REAL    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
