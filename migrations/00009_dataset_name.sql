-- datasets.dataset_name keeps the name of the dataset a job remembers, as the job named it
-- when the dataset was created (or as a later run found it on the server), so that
-- `cubesync validate` can say when dataset.name in the jobs file no longer matches it
-- without asking the server. '' for a dataset remembered before names were kept.

-- +goose Up
ALTER TABLE cubesync.datasets ADD COLUMN dataset_name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cubesync.datasets DROP COLUMN dataset_name;
