//! What the server must provide for binlog change capture, checked once at start, with the
//! fix spelled out: the `my.cnf` lines and the `GRANT` statement.

/// The server settings and grants the check reads.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// `@@log_bin`: "1"/"ON" when the binary log is written.
    pub log_bin: String,
    /// `@@binlog_format`: must be ROW.
    pub binlog_format: String,
    /// `@@binlog_row_image`: must be FULL (delete and update events carry the whole old row).
    pub binlog_row_image: String,
    /// The lines of `SHOW GRANTS` for the connecting user.
    pub grants: Vec<String>,
    /// The user as the server sees it, e.g. `'seafile'@'%'`, for the GRANT statement.
    pub user: String,
}

/// What is missing, as one message that says what to set; `Ok` when nothing is.
pub fn check(facts: &ServerFacts) -> Result<(), String> {
    let mut settings = Vec::new();
    if !matches!(facts.log_bin.to_ascii_uppercase().as_str(), "1" | "ON") {
        settings.push("log_bin = mysql-bin");
        settings.push("server_id = 1");
    }
    if !facts.binlog_format.eq_ignore_ascii_case("ROW") {
        settings.push("binlog_format = ROW");
    }
    if !facts.binlog_row_image.eq_ignore_ascii_case("FULL") {
        settings.push("binlog_row_image = FULL");
    }
    let grants = missing_grants(&facts.grants);
    if settings.is_empty() && grants.is_empty() {
        return Ok(());
    }
    let mut message = String::from("binlog change capture needs");
    if !settings.is_empty() {
        message.push_str(&format!(
            " these lines in the [mysqld] section of the database server's my.cnf (then restart it): {}",
            settings.join("; ")
        ));
    }
    if !grants.is_empty() {
        if !settings.is_empty() {
            message.push_str(", and");
        }
        message.push_str(&format!(
            " the grant: GRANT {} ON *.* TO {};",
            grants.join(", "),
            facts.user
        ));
    }
    message.push_str(" (or set [primary] change_capture = \"poll\")");
    Err(message)
}

/// The replication privileges the grants lack. MariaDB 10.5+ calls REPLICATION CLIENT
/// `BINLOG MONITOR`; either name (or ALL PRIVILEGES) will do.
fn missing_grants(grants: &[String]) -> Vec<&'static str> {
    let all = grants.join("\n").to_ascii_uppercase();
    if all.contains("GRANT ALL PRIVILEGES ON *.*") {
        return Vec::new();
    }
    let global: String = all.lines().filter(|l| l.contains(" ON *.* ")).collect();
    let mut missing = Vec::new();
    if !global.contains("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    if !global.contains("REPLICATION CLIENT") && !global.contains("BINLOG MONITOR") {
        missing.push("REPLICATION CLIENT");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> ServerFacts {
        ServerFacts {
            log_bin: "1".into(),
            binlog_format: "ROW".into(),
            binlog_row_image: "FULL".into(),
            grants: vec!["GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `seafile`@`%`".into()],
            user: "'seafile'@'%'".into(),
        }
    }

    #[test]
    fn a_ready_server_passes() {
        assert_eq!(check(&ready()), Ok(()));
        let root = ServerFacts {
            grants: vec!["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION".into()],
            ..ready()
        };
        assert_eq!(check(&root), Ok(()));
    }

    #[test]
    fn the_message_says_exactly_what_to_set() {
        let facts = ServerFacts {
            log_bin: "0".into(),
            binlog_format: "MIXED".into(),
            grants: vec!["GRANT ALL PRIVILEGES ON `seafile_db`.* TO `seafile`@`%`".into()],
            ..ready()
        };
        let message = check(&facts).unwrap_err();
        for wanted in [
            "log_bin = mysql-bin",
            "server_id = 1",
            "binlog_format = ROW",
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'seafile'@'%';",
            "change_capture = \"poll\"",
        ] {
            assert!(message.contains(wanted), "{wanted} missing from: {message}");
        }
        assert!(!message.contains("binlog_row_image"), "{message}");
    }
}
