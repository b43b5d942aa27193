-- pollen-store, PostgreSQL, version 6: the Sage rate budget.
--
-- One token bucket per Sage business, shared by every worker on this database: `tokens` as of
-- `updated_at` (the database's clock, so the workers' clocks do not matter). Each API call
-- takes one token in one statement; a row holds no lock between calls, so nothing is left
-- behind when a worker dies.
CREATE TABLE rate_budget (
    business   TEXT             PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL
);
