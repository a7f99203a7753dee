-- Record-level read access (opsflow.ReadPolicy): each process row names
-- the people who take part in it, derived from its record by
-- opsflow.Participants whenever the row is written. Lists filter on it in
-- SQL (participants @> ARRAY[user]), so a page holds only what its reader
-- may see and keyset pagination is unchanged. NULL: not derived yet (rows
-- from before this migration; Migrate fills them in).

-- +goose Up
ALTER TABLE processes ADD COLUMN participants text[];
CREATE INDEX processes_participants ON processes USING gin (participants);

-- +goose Down
DROP INDEX processes_participants;
ALTER TABLE processes DROP COLUMN participants;
