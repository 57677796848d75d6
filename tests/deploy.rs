//! The deployment files and the reference docs cannot drift from the code.
//!
//! - every TOML configuration shipped in `compose/` and `deploy/` loads through the agent's own
//!   loader (which refuses unknown keys), also with the environment compose gives it;
//! - `docs/configuration.md`: its complete examples load, its table names exactly the fields of
//!   the config structs, and its defaults are the code's;
//! - every `seaf_*` metric in the alert rules and the Grafana dashboard is one of the agent's
//!   metric catalogue (`seaf_backup::internal_events::METRICS`), histograms with their
//!   `_bucket`/`_sum`/`_count` series, every catalogued metric has a dashboard panel and is
//!   documented in `docs/metrics.md` with its type and labels;
//! - every `seaf-backup SUBCOMMAND --flag` the docs show exists in the CLI.
//!
//! Pure text and the real loader: no services, no network, well under a second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use seaf_backup::config::Config;
use seaf_backup::internal_events::{MetricDef, MetricKind, METRICS};
use support::repo_root;

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn rel(path: &Path) -> String {
    path.strip_prefix(repo_root()).unwrap_or(path).display().to_string()
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// The role a shipped configuration is for, from its file name.
fn role_of(path: &Path) -> &'static str {
    let name = path.file_name().unwrap().to_string_lossy();
    if name.contains("primary") {
        "primary"
    } else if name.contains("backup") {
        "backup"
    } else {
        panic!(
            "{}: name a shipped configuration after its role (primary/backup)",
            rel(path)
        )
    }
}

fn check_role(config: &Config, role: &str, source: &str) {
    match role {
        "primary" => {
            config.primary().unwrap_or_else(|e| panic!("{source}: {e:#}"));
        }
        _ => {
            let b = config.backup().unwrap_or_else(|e| panic!("{source}: {e:#}"));
            assert!(b.primary_url.is_some(), "{source}: [backup] has no primary_url");
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Shipped configurations

#[test]
fn shipped_configs_load_through_the_agent_loader() {
    let mut files = Vec::new();
    files_under(&repo_root().join("compose"), "toml", &mut files);
    files_under(&repo_root().join("deploy"), "toml", &mut files);
    files.sort();
    assert!(
        files.len() >= 4,
        "expected compose/ and deploy/ configurations, found {files:?}"
    );
    for path in &files {
        let source = rel(path);
        let text = std::fs::read_to_string(path).unwrap();
        let config =
            Config::from_parts(&text, &source, no_env()).unwrap_or_else(|e| panic!("{source} does not load: {e:#}"));
        let role = role_of(path);
        check_role(&config, role, &source);
        if config.sync_token.is_some() {
            assert_placeholder_token(&config, &source);
        }
        if source.starts_with("compose") {
            // Prometheus scrapes from another container: 127.0.0.1 would be unreachable.
            let listen = match role {
                "primary" => &config.primary().unwrap().metrics_listen,
                _ => &config.backup().unwrap().metrics_listen,
            };
            assert!(
                listen.starts_with("0.0.0.0:"),
                "{source}: metrics_listen = {listen:?} must be 0.0.0.0:PORT inside a container"
            );
        }
    }
}

/// A shipped or documented configuration must not carry a usable token (operators copy them):
/// its `sync_token` is a placeholder that the loader refuses with the way to make one.
fn assert_placeholder_token(config: &Config, source: &str) {
    let err = config
        .sync_token()
        .expect_err(&format!("{source}: ships a usable sync_token; use a placeholder"));
    assert!(format!("{err:#}").contains("openssl rand -hex 20"), "{source}: {err:#}");
}

/// One service of docker-compose.yml: its name and its lines.
struct Service {
    name: String,
    lines: Vec<String>,
}

/// The services of a compose file, by indentation (two spaces under `services:`).
fn compose_services(text: &str) -> Vec<Service> {
    let mut services = Vec::new();
    let mut in_services = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_services = line.trim_end() == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 2 && line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            services.push(Service {
                name: line.trim().trim_end_matches(':').to_string(),
                lines: Vec::new(),
            });
        } else if let Some(s) = services.last_mut() {
            s.lines.push(line.to_string());
        }
    }
    services
}

/// A plausible value for an environment override, by the key it sets.
fn sample_value(var: &str) -> String {
    if var.ends_with("SYNC_TOKEN") {
        "0123456789abcdef0123456789abcdef01234567".into()
    } else if var.ends_with("DATABASE_URL") {
        "mysql://seafile:pw@db:3306/seafile_db".into()
    } else if var.ends_with("_URL") {
        "http://host:8083".into()
    } else if var.ends_with("WORKERS") || var.ends_with("PARTITIONS") || var.ends_with("FACTOR") {
        "3".into()
    } else {
        "info".into()
    }
}

#[test]
fn compose_services_load_their_config_with_their_environment() {
    let compose = read("compose/docker-compose.yml");
    let prometheus = read("compose/prometheus.yml");
    let services = compose_services(&compose);
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    for needed in [
        "kafka",
        "db",
        "seafile",
        "seaf-backup-primary",
        "mariadb-backup",
        "seaf-backup-backup",
        "prometheus",
        "grafana",
    ] {
        assert!(
            names.contains(&needed),
            "docker-compose.yml has no service {needed} ({names:?})"
        );
    }
    let mut roles_seen = BTreeSet::new();
    for service in &services {
        // The configuration mounted at /etc/seaf-backup/X.toml from ./X.toml.
        let Some(mount) = service.lines.iter().find_map(|l| {
            l.trim()
                .strip_prefix("- ./")
                .filter(|m| m.contains(":/etc/seaf-backup/"))
        }) else {
            continue;
        };
        let (local, in_container) = mount.split_once(':').unwrap();
        let in_container = in_container.trim_end_matches(":ro");
        let command = service
            .lines
            .iter()
            .find_map(|l| l.trim().strip_prefix("command:"))
            .unwrap_or_else(|| panic!("service {} has no command", service.name));
        let role = ["primary", "backup"]
            .into_iter()
            .find(|r| command.contains(&format!("\"{r}\"")))
            .unwrap_or_else(|| panic!("service {}: command {command} runs no role", service.name));
        assert!(
            command.contains(&format!("\"-c\", \"{in_container}\"")),
            "service {}: command {command} does not read the mounted {in_container}",
            service.name
        );
        roles_seen.insert(role);

        let env: Vec<(String, String)> = service
            .lines
            .iter()
            .filter_map(|l| l.trim().split_once(':'))
            .filter(|(k, _)| k.starts_with("SEAF_BACKUP_"))
            .map(|(k, _)| (k.to_string(), sample_value(k)))
            .collect();
        assert!(
            env.iter().any(|(k, _)| k == "SEAF_BACKUP_SYNC_TOKEN"),
            "service {} gets no SEAF_BACKUP_SYNC_TOKEN",
            service.name
        );
        let source = format!("compose/{local} (service {})", service.name);
        let text = read(&format!("compose/{local}"));
        let config = Config::from_parts(&text, &source, env.clone())
            .unwrap_or_else(|e| panic!("{source} with {env:?} does not load: {e:#}"));
        check_role(&config, role, &source);
        config.sync_token().unwrap_or_else(|e| panic!("{e:#}"));

        // Prometheus scrapes this service on the port its metrics listen on.
        let metrics = match role {
            "primary" => config.primary().unwrap().metrics_listen.clone(),
            _ => config.backup().unwrap().metrics_listen.clone(),
        };
        let port = metrics.rsplit(':').next().unwrap();
        let target = format!("\"{}:{port}\"", service.name);
        assert!(
            prometheus.contains(&target),
            "compose/prometheus.yml does not scrape {target} (metrics_listen of {source})"
        );
        if role == "backup" {
            let primary_url = config.backup().unwrap().primary_url.clone().unwrap();
            assert!(
                names.iter().any(|n| primary_url.contains(&format!("//{n}:"))),
                "{source}: primary_url {primary_url} names no compose service"
            );
        }
    }
    assert_eq!(
        roles_seen,
        BTreeSet::from(["backup", "primary"]),
        "docker-compose.yml must run both roles"
    );
}

#[test]
fn systemd_units_run_the_shipped_configs() {
    let mut units = Vec::new();
    files_under(&repo_root().join("deploy/systemd"), "service", &mut units);
    units.sort();
    assert_eq!(units.len(), 2, "expected the primary and backup units, found {units:?}");
    for unit in &units {
        let text = std::fs::read_to_string(unit).unwrap();
        let role = role_of(unit);
        let name = rel(unit);
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{name}: no ExecStart"));
        assert_eq!(
            exec,
            format!("/usr/local/bin/seaf-backup {role} -c /etc/seaf-backup/{role}.toml"),
            "{name}"
        );
        assert!(text.contains("\nRestart=on-failure\n"), "{name}: Restart=on-failure");
        assert!(
            text.contains("\nProtectSystem=strict\n"),
            "{name}: ProtectSystem=strict"
        );
        let example = format!("deploy/config/{role}.toml");
        let config = Config::from_parts(&read(&example), &example, no_env()).unwrap();
        if role == "backup" {
            // The only writable path besides the state directory is the backup data directory.
            let data_dir = config.backup().unwrap().seafile_data_dir.display().to_string();
            assert!(
                text.contains(&format!("\nReadWritePaths={data_dir}\n")),
                "{name}: ReadWritePaths= must be {data_dir}, the [backup] seafile_data_dir of {example}"
            );
        } else {
            let state_dir = config.primary().unwrap().state_dir.display().to_string();
            assert_eq!(
                state_dir, "/var/lib/seaf-backup",
                "{example}: StateDirectory= of the unit"
            );
            assert!(
                text.contains("\nStateDirectory=seaf-backup\n"),
                "{name}: StateDirectory=seaf-backup"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------
// docs/configuration.md

/// The contents of the fenced code blocks of `lang` in markdown text.
fn fenced_blocks(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some((l, body)) => {
                    if l == lang {
                        blocks.push(body);
                    }
                }
                None => current = Some((info.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

#[test]
fn configuration_doc_examples_load() {
    let doc = read("docs/configuration.md");
    let blocks = fenced_blocks(&doc, "toml");
    let mut roles = BTreeSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let source = format!("docs/configuration.md, toml block {}", i + 1);
        let config = Config::from_parts(block, &source, no_env()).unwrap_or_else(|e| panic!("{e:#}"));
        if config.sync_token.is_some() {
            assert_placeholder_token(&config, &source);
        }
        if config.primary.is_some() {
            roles.insert("primary");
        }
        if config.backup.is_some() {
            check_role(&config, "backup", &source);
            roles.insert("backup");
        }
    }
    assert_eq!(
        roles,
        BTreeSet::from(["backup", "primary"]),
        "docs/configuration.md needs a complete example for each role"
    );
    // "Complete": each role's example names every key of its sections.
    let fields = config_fields();
    for (role, block) in [("primary", "[primary]"), ("backup", "[backup]")] {
        let example = blocks
            .iter()
            .find(|b| b.contains(block))
            .unwrap_or_else(|| panic!("no {role} example"));
        for (section, key) in &fields {
            if section.is_empty() || section == "kafka" || section == role {
                let written = if key == "properties" {
                    example.contains("[kafka.properties]")
                } else {
                    example
                        .lines()
                        .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} =")))
                };
                assert!(
                    written,
                    "docs/configuration.md: the {role} example lacks `{key}` ({})",
                    if section.is_empty() { "top level" } else { section }
                );
            }
        }
    }
}

/// (section, key) of every key the configuration loader accepts; top-level keys have the
/// section "". Asked of the loader itself: its error for an unknown key lists the known ones
/// (serde's `deny_unknown_fields`), wherever the struct of a section lives (`[kafka]` is
/// `seaf_kafka::KafkaSettings`) and without serde-skipped fields, which are not keys.
fn config_fields() -> BTreeSet<(String, String)> {
    let mut fields = BTreeSet::new();
    for section in ["", "kafka", "primary", "backup"] {
        let probe = if section.is_empty() {
            "not_a_key = 1\n".to_string()
        } else {
            format!("[{section}]\nnot_a_key = 1\n")
        };
        let err = match Config::from_parts(&probe, "probe.toml", no_env()) {
            Ok(_) => panic!("the loader accepted the unknown key not_a_key in [{section}]"),
            Err(e) => format!("{e:#}"),
        };
        let (_, expected) = err
            .split_once("expected ")
            .unwrap_or_else(|| panic!("the loader's error does not list the keys of [{section}]: {err}"));
        // "one of `a`, `b`, `c`": every other piece between backticks is a key.
        for key in expected.split('`').skip(1).step_by(2) {
            let is_section = section.is_empty() && ["kafka", "primary", "backup"].contains(&key);
            if !is_section {
                fields.insert((section.to_string(), key.to_string()));
            }
        }
    }
    assert!(fields.len() > 15, "could not read the configuration keys: {fields:?}");
    fields
}

/// The rows of the key table in docs/configuration.md: (section, key) → default cell.
fn documented_keys() -> BTreeMap<(String, String), String> {
    let doc = read("docs/configuration.md");
    let mut keys = BTreeMap::new();
    let table_start = doc.find("| Key | Default | Meaning |").expect("the key table");
    for line in doc[table_start..].lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let key_cell = cells[0].trim_start_matches('|').trim().trim_matches('`');
        let default = cells.get(1).map(|c| c.trim().to_string()).unwrap_or_default();
        let (section, key) = match key_cell.strip_prefix('[') {
            Some(rest) => {
                let (section, key) = rest.split_once(']').expect("[section] key");
                match (section.split_once('.'), key.trim()) {
                    (Some((s, k)), "") => (s.to_string(), k.to_string()),
                    (None, k) => (section.to_string(), k.to_string()),
                    _ => panic!("cannot read the key cell {key_cell:?}"),
                }
            }
            None => (String::new(), key_cell.to_string()),
        };
        assert!(
            keys.insert((section, key), default).is_none(),
            "docs/configuration.md names {key_cell} twice"
        );
    }
    keys
}

#[test]
fn configuration_doc_table_matches_the_config_structs() {
    let fields = config_fields();
    let documented: BTreeSet<(String, String)> = documented_keys().into_keys().collect();
    let undocumented: Vec<_> = fields.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&fields).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/configuration.md and the configuration structs disagree.\n  fields missing from the table: {undocumented:?}\n  table rows that are no field: {unknown:?}"
    );
}

/// "1s", "10s", "1h", "500ms" (the forms the table uses).
fn parse_doc_duration(s: &str) -> Duration {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("duration {s:?}"));
    match &s[digits.len()..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(60 * n),
        "h" => Duration::from_secs(3600 * n),
        other => panic!("duration unit {other:?} in {s:?}"),
    }
}

#[test]
fn configuration_doc_defaults_are_the_codes() {
    // Only the required keys: everything else takes its default.
    let minimal = "[primary]\nseafile_data_dir = \"/p\"\ndatabase_url = \"sqlite:///p.db\"\n\
                   [backup]\nseafile_data_dir = \"/b\"\ndatabase_url = \"sqlite:///b.db\"\n";
    let c = Config::from_parts(minimal, "minimal.toml", no_env()).unwrap();
    let (k, p, b) = (&c.kafka, c.primary().unwrap(), c.backup().unwrap());
    let mut checked = 0;
    for ((section, key), default) in documented_keys() {
        // A literal default is written in backticks; "—", "none", "the host name" are prose.
        let Some(literal) = default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
            .filter(|d| !d.contains('`'))
        else {
            continue;
        };
        let text = |actual: String| assert_eq!(actual, literal, "default of [{section}] {key}");
        let duration =
            |actual: Duration| assert_eq!(actual, parse_doc_duration(literal), "default of [{section}] {key}");
        match (section.as_str(), key.as_str()) {
            ("kafka", "brokers") => text(k.brokers.clone()),
            ("kafka", "topic") => text(k.topic.clone()),
            ("kafka", "group_id") => text(k.group_id.clone()),
            ("kafka", "partitions") => text(k.partitions.to_string()),
            ("kafka", "replication_factor") => text(k.replication_factor.to_string()),
            ("primary", "listen") => text(p.listen.clone()),
            ("primary", "metrics_listen") => text(p.metrics_listen.clone()),
            ("primary", "poll_interval") => duration(p.poll_interval),
            ("primary", "change_capture") => text(format!("{:?}", p.change_capture).to_lowercase()),
            ("primary", "full_read_interval") => duration(p.full_read_interval),
            ("primary", "heartbeat_interval") => duration(p.heartbeat_interval),
            ("primary", "state_dir") => text(p.state_dir.display().to_string()),
            ("primary", "api_header_timeout") => duration(p.api_header_timeout),
            ("primary", "api_request_timeout") => duration(p.api_request_timeout),
            ("primary", "api_max_connections") => text(p.api_max_connections.to_string()),
            ("backup", "metrics_listen") => text(b.metrics_listen.clone()),
            ("backup", "sync_poll_interval") => duration(b.sync_poll_interval),
            ("backup", "workers") => text(b.workers.to_string()),
            ("backup", "scrub_bytes_per_second") => text(b.scrub_bytes_per_second.to_string()),
            ("backup", "scrub_head_interval") => duration(b.scrub_head_interval),
            _ => panic!("docs/configuration.md gives [{section}] {key} the default `{literal}`: add it to this test"),
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} defaults checked");
}

// ----------------------------------------------------------------------------------------------
// Metrics

/// Every metric the agent exports, by name: its catalogue, which the recorder describes and
/// the events record (a unit test in `agent/src/internal_events` holds them to it).
fn catalogued_metrics() -> BTreeMap<&'static str, &'static MetricDef> {
    let metrics: BTreeMap<_, _> = METRICS.iter().map(|m| (m.name, m)).collect();
    assert!(metrics.len() >= 15, "too few metrics in the catalogue: {metrics:?}");
    metrics
}

/// Every `seaf_…` identifier in a text.
fn metric_tokens(text: &str) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("seaf_") {
        let start = i + at;
        let preceded = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        if !preceded {
            tokens.insert(text[start..end].to_string());
        }
        i = end;
    }
    tokens
}

/// A name used in PromQL resolved to the catalogued metric: histograms export `_bucket`,
/// `_sum` and `_count` series.
fn resolve(used: &str, catalogued: &BTreeMap<&'static str, &'static MetricDef>) -> Result<&'static str, String> {
    if let Some(m) = catalogued.get(used) {
        return Ok(m.name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = used.strip_suffix(suffix) {
            return match catalogued.get(base) {
                Some(m) if m.kind == MetricKind::Histogram => Ok(m.name),
                Some(m) => Err(format!("{used}: {base} is a {}, not a histogram", m.kind.as_str())),
                None => Err(format!("{used}: {base} is not catalogued")),
            };
        }
    }
    Err(format!(
        "{used} is not in the agent's metric catalogue (agent/src/internal_events/catalogue.rs)"
    ))
}

#[test]
fn alert_rules_use_catalogued_metrics_and_known_jobs() {
    let catalogued = catalogued_metrics();
    let rules = read("deploy/prometheus/seaf-backup-alerts.yml");
    let used = metric_tokens(&rules);
    assert!(used.len() >= 5, "alert rules use too few metrics: {used:?}");
    let errors: Vec<String> = used.iter().filter_map(|u| resolve(u, &catalogued).err()).collect();
    assert!(
        errors.is_empty(),
        "deploy/prometheus/seaf-backup-alerts.yml:\n  {}",
        errors.join("\n  ")
    );

    // Each alert: an expression, a severity, a summary.
    let alerts = rules.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    let exprs = rules.lines().filter(|l| l.trim_start().starts_with("expr:")).count();
    let severities = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("severity:"))
        .count();
    let summaries = rules.lines().filter(|l| l.trim_start().starts_with("summary:")).count();
    assert!(alerts >= 8, "{alerts} alerts");
    assert_eq!(
        (exprs, severities, summaries),
        (alerts, alerts, alerts),
        "every alert needs expr, severity, summary"
    );

    // The jobs the rules select on are the jobs compose's Prometheus scrapes.
    let prometheus = read("compose/prometheus.yml");
    let jobs: BTreeSet<&str> = prometheus
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- job_name:"))
        .map(str::trim)
        .collect();
    for part in rules.split("job=\"").skip(1) {
        let job = part.split('"').next().unwrap();
        assert!(
            jobs.contains(job),
            "alert rules select job {job:?}, compose/prometheus.yml scrapes {jobs:?}"
        );
    }

    // docs/metrics.md explains every alert.
    let doc = read("docs/metrics.md");
    for line in rules.lines().filter_map(|l| l.trim_start().strip_prefix("- alert:")) {
        let alert = line.trim();
        assert!(
            doc.contains(&format!("`{alert}`")),
            "docs/metrics.md does not explain the alert {alert}"
        );
    }
}

#[test]
fn grafana_dashboard_parses_and_uses_catalogued_metrics() {
    let catalogued = catalogued_metrics();
    let text = read("deploy/grafana/seaf-backup.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["schemaVersion"].as_i64().unwrap_or(0) >= 36, "schemaVersion");
    assert_eq!(dash["uid"], "seaf-backup");
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource"),
        "the dashboard needs a Prometheus data source variable named `datasource`"
    );

    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(panel["id"].as_i64().expect("panel id")),
            "duplicate panel id in {title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {title}: data source"
        );
        let targets = panel["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title}: no targets"));
        assert!(!targets.is_empty(), "panel {title}: no targets");
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {title}: target data source"
            );
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title}: target without expr"));
            assert!(!expr.trim().is_empty(), "panel {title}: empty expr");
            exprs.push((title.to_string(), expr.to_string()));
        }
    }
    assert!(exprs.len() >= 12, "only {} queries", exprs.len());

    let mut errors = Vec::new();
    let mut used = BTreeSet::new();
    for (title, expr) in &exprs {
        for token in metric_tokens(expr) {
            match resolve(&token, &catalogued) {
                Ok(name) => {
                    used.insert(name);
                    if token.ends_with("_bucket") && !expr.contains("histogram_quantile(") {
                        errors.push(format!("panel {title}: {token} outside histogram_quantile"));
                    }
                }
                Err(e) => errors.push(format!("panel {title}: {e}")),
            }
        }
    }
    // Descriptions name metrics too: they must be real ones.
    for token in metric_tokens(&text) {
        if let Err(e) = resolve(&token, &catalogued) {
            errors.push(format!("dashboard text: {e}"));
        }
    }
    errors.sort();
    errors.dedup();
    assert!(
        errors.is_empty(),
        "deploy/grafana/seaf-backup.json:\n  {}",
        errors.join("\n  ")
    );
    // Every catalogued metric has a panel.
    let unused: Vec<_> = catalogued.keys().filter(|m| !used.contains(*m)).collect();
    assert!(unused.is_empty(), "metrics without a dashboard panel: {unused:?}");
}

#[test]
fn every_catalogued_metric_is_documented_with_its_type_and_labels() {
    let catalogued = catalogued_metrics();
    let doc = read("docs/metrics.md");
    // Table rows: | `name{label,label}` | type | meaning |
    let mut documented: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `seaf_")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let cell = cells[0].trim_start_matches("| ").trim_matches('`');
        let (name, labels) = match cell.split_once('{') {
            Some((n, l)) => (
                n,
                l.trim_end_matches('}')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            ),
            None => (cell, BTreeSet::new()),
        };
        documented.insert(name.to_string(), (cells[1].trim().to_string(), labels));
    }
    let mut errors = Vec::new();
    for (name, m) in &catalogued {
        let (kind, labels): (&str, BTreeSet<String>) =
            (m.kind.as_str(), m.labels.iter().map(|l| l.to_string()).collect());
        match documented.get(*name) {
            None => errors.push(format!("{name} ({kind}) is not in the tables of docs/metrics.md")),
            Some((doc_kind, doc_labels)) => {
                if doc_kind != kind {
                    errors.push(format!("{name}: documented as {doc_kind}, catalogued as {kind}"));
                }
                if doc_labels != &labels {
                    errors.push(format!(
                        "{name}: documented labels {doc_labels:?}, catalogued labels {labels:?}"
                    ));
                }
            }
        }
    }
    for token in metric_tokens(&doc) {
        if let Err(e) = resolve(&token, &catalogued) {
            errors.push(format!("docs/metrics.md names {e}"));
        }
    }
    assert!(errors.is_empty(), "docs/metrics.md:\n  {}", errors.join("\n  "));
}

// ----------------------------------------------------------------------------------------------
// Command lines in the docs

/// Subcommand → its long flags, from the `Command` enum of agent/src/main.rs (clap derives
/// `--kebab-case` from each field; `config` also has `-c`).
fn cli_flags() -> BTreeMap<String, BTreeSet<String>> {
    let source = read("agent/src/main.rs");
    let start = source.find("enum Command {").expect("enum Command in main.rs");
    let body = &source[start..start + source[start..].find("\n}").unwrap()];
    let mut commands: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in body.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 4 && t.ends_with('{') && t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            let name = t.trim_end_matches('{').trim().to_ascii_lowercase();
            commands.insert(name.clone(), BTreeSet::from(["--help".to_string()]));
            current = Some(name);
        } else if let Some((field, _)) = t
            .split_once(':')
            .filter(|(f, _)| indent == 8 && t.ends_with(',') && f.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'))
        {
            let flags = commands.get_mut(current.as_ref().expect("a variant")).unwrap();
            // `store: StoreArgs` is flattened: -c FILE, or --data-dir and --database-url;
            // `point: PointArgs` too: LIBRARY [PATH] and --at.
            let fields: &[&str] = match field {
                "store" => &["config", "data_dir", "database_url"],
                "point" => &["at"],
                f => &[f][..],
            };
            for field in fields {
                flags.insert(format!("--{}", field.replace('_', "-")));
                if *field == "config" {
                    flags.insert("-c".into());
                }
            }
        }
    }
    assert!(commands.len() >= 7, "could not read the subcommands: {commands:?}");
    commands
}

/// The code in a markdown text: fenced blocks (continuation lines joined) and inline spans.
fn code_snippets(text: &str) -> Vec<String> {
    let mut snippets = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            let l = line.trim_end();
            if let Some(cont) = l.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
            } else {
                pending.push_str(l);
                snippets.push(std::mem::take(&mut pending));
            }
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 {
                    snippets.push(span.to_string());
                }
            }
        }
    }
    snippets
}

#[test]
fn docs_show_only_real_subcommands_and_flags() {
    let commands = cli_flags();
    let mut docs = Vec::new();
    files_under(&repo_root().join("docs"), "md", &mut docs);
    docs.push(repo_root().join("compose/README.md"));
    docs.push(repo_root().join("deploy/README.md"));
    let mut errors = Vec::new();
    let mut seen = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", rel(doc)));
        for snippet in code_snippets(&text) {
            // Shell comments are prose.
            let code = snippet.split(" #").next().unwrap();
            let tokens: Vec<&str> = code.split_whitespace().collect();
            for (i, token) in tokens.iter().enumerate() {
                if token.rsplit('/').next() != Some("seaf-backup") {
                    continue;
                }
                let Some(sub) = tokens.get(i + 1).filter(|s| s.chars().all(|c| c.is_ascii_lowercase())) else {
                    continue;
                };
                let Some(flags) = commands.get(*sub) else {
                    errors.push(format!("{}: `{snippet}`: no subcommand {sub}", rel(doc)));
                    continue;
                };
                seen += 1;
                for arg in &tokens[i + 2..] {
                    if ["|", "||", "&&", ";", ">", "2>&1"].contains(arg) {
                        break;
                    }
                    let flag = arg
                        .trim_start_matches(['[', '('])
                        .trim_end_matches([']', ')', ',', ';', '.']);
                    let flag = flag.split('=').next().unwrap();
                    if flag.starts_with('-') && flag.len() > 1 && !flags.contains(flag) {
                        errors.push(format!("{}: `{snippet}`: {sub} has no {flag}", rel(doc)));
                    }
                }
            }
        }
    }
    assert!(seen >= 10, "only {seen} command lines found in the docs");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
