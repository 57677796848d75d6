-- seaf-backup's own state (see mysql/seaf-backup-state.sql).
CREATE TABLE IF NOT EXISTS SeafBackupRepoState (repo_id VARCHAR(36) NOT NULL PRIMARY KEY, state VARCHAR(16) NOT NULL, head VARCHAR(40), old_head VARCHAR(40), old_heads TEXT, error TEXT, wanted_at BIGINT NOT NULL, sync_started BIGINT, updated_at BIGINT NOT NULL, lock_owner VARCHAR(128), lock_expires BIGINT);
CREATE INDEX IF NOT EXISTS seafbackuprepostate_state_idx ON SeafBackupRepoState (state);
