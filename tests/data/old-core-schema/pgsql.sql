-- The subset of Seafile's tables that seaf-backup created before it created Seafile's whole
-- schema (connectors/seafile/sql/pgsql/seafile-core.sql at commit c1098a3), kept to test the upgrade.
-- Seafile's core library tables, as in haiwen/seafile-server scripts/sql/pgsql/seafile.sql.
-- Statements are separated by ";" at line ends.
CREATE TABLE IF NOT EXISTS Repo (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(37));
CREATE UNIQUE INDEX IF NOT EXISTS repo_repoid_idx ON Repo (repo_id);

CREATE TABLE IF NOT EXISTS Branch (
 id BIGSERIAL PRIMARY KEY,
 name VARCHAR(10),
 repo_id CHAR(41),
 commit_id CHAR(41));
CREATE UNIQUE INDEX IF NOT EXISTS branch_repoidname_idx ON Branch (repo_id, name);

CREATE TABLE IF NOT EXISTS RepoHead (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(37),
 branch_name VARCHAR(10));
CREATE UNIQUE INDEX IF NOT EXISTS repohead_repoid_idx ON RepoHead (repo_id);

CREATE TABLE IF NOT EXISTS RepoInfo (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(36),
 name VARCHAR(255) NOT NULL,
 update_time BIGINT,
 version INTEGER,
 is_encrypted INTEGER,
 last_modifier VARCHAR(255),
 status INTEGER DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS repoinfo_repoid_idx ON RepoInfo (repo_id);

CREATE TABLE IF NOT EXISTS RepoOwner (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(37),
 owner_id VARCHAR(255));
CREATE UNIQUE INDEX IF NOT EXISTS repoowner_repoid_idx ON RepoOwner (repo_id);
CREATE INDEX IF NOT EXISTS repoowner_owner_idx ON RepoOwner (owner_id);

CREATE TABLE IF NOT EXISTS VirtualRepo (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(36),
 origin_repo CHAR(36),
 path TEXT,
 base_commit CHAR(40));
CREATE UNIQUE INDEX IF NOT EXISTS virtualrepo_repoid_idx ON VirtualRepo (repo_id);
CREATE INDEX IF NOT EXISTS virtualrepo_origin_repo_idx ON VirtualRepo (origin_repo);

CREATE TABLE IF NOT EXISTS RepoStorageId (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(40) NOT NULL,
 storage_id VARCHAR(255) NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS repostorageid_repoid_idx ON RepoStorageId (repo_id);

CREATE TABLE IF NOT EXISTS RepoTrash (
 id BIGSERIAL PRIMARY KEY,
 repo_id CHAR(36),
 repo_name VARCHAR(255),
 head_id CHAR(40),
 owner_id VARCHAR(255),
 size BIGINT,
 org_id INTEGER,
 del_time BIGINT);
CREATE UNIQUE INDEX IF NOT EXISTS repotrash_repoid_idx ON RepoTrash (repo_id);
CREATE INDEX IF NOT EXISTS repotrash_owner_id ON RepoTrash (owner_id);
CREATE INDEX IF NOT EXISTS repotrash_org_id ON RepoTrash (org_id);
