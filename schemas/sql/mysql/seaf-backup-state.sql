-- seaf-backup's own state, in the backup's seafile database beside Seafile's tables.
-- One row per library: its sync state, the head it was synced to, and a lease so that one
-- worker of one process syncs a library at a time. Times are Unix milliseconds. `old_head` is
-- the head replaced by the last rewind (seaf-fsck on the primary), `old_heads` every replaced
-- head, oldest first, space-separated.
CREATE TABLE IF NOT EXISTS SeafBackupRepoState (
  repo_id VARCHAR(36) NOT NULL PRIMARY KEY,
  state VARCHAR(16) NOT NULL,
  head VARCHAR(40),
  old_head VARCHAR(40),
  old_heads TEXT,
  error TEXT,
  wanted_at BIGINT NOT NULL,
  sync_started BIGINT,
  updated_at BIGINT NOT NULL,
  lock_owner VARCHAR(128),
  lock_expires BIGINT,
  INDEX (state)
) ENGINE=INNODB;
