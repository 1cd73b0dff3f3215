-- Conflicts that are not one raw delivery against another: a verified webhook that could not be stored
-- (kind 'rejected': its body is kept in the raw inbox under kind 'rejected', `conflicting_raw_id`, and nothing is
-- kept against it) and a statement whose entries do not add up to its closing balance (kind 'statement-balance':
-- no raw delivery at all). Both raw ids become nullable; such rows are unique by what they name, so recording
-- the same rejection or importing the same file again adds no second row. Kept in step with
-- ../sqlite/0008_conflicts_without_raw.sql.
ALTER TABLE conflicts ALTER COLUMN kept_raw_id DROP NOT NULL;
ALTER TABLE conflicts ALTER COLUMN conflicting_raw_id DROP NOT NULL;
CREATE UNIQUE INDEX conflicts_rejected ON conflicts (conflicting_raw_id)
    WHERE kept_raw_id IS NULL AND conflicting_raw_id IS NOT NULL;
CREATE UNIQUE INDEX conflicts_without_raw ON conflicts (kind, external_id)
    WHERE kept_raw_id IS NULL AND conflicting_raw_id IS NULL;
