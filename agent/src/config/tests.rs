use std::time::Duration;

use super::*;

const EXAMPLE: &str = r#"
sync_token = "5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e"

[kafka]
brokers = "127.0.0.1:9092"
topic = "seafile-repo-updates"
group_id = "seaf-backup"
[kafka.properties]
"security.protocol" = "SASL_SSL"

[primary]
seafile_data_dir = "/opt/seafile/seafile-data"
database_url = "mysql://seafile:secret@127.0.0.1:3306/seafile_db"
listen = "0.0.0.0:8083"
metrics_listen = "127.0.0.1:9108"
node_id = "primary-1"
poll_interval = "1s"

[backup]
primary_url = "http://primary:8083"
seafile_data_dir = "/backup/seafile-data"
database_url = "mysql://seafile:secret@127.0.0.1:3306/seafile_db"
metrics_listen = "127.0.0.1:9109"
sync_poll_interval = "1h"
workers = 8
"#;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn design_example_loads() {
    let c = Config::from_parts(EXAMPLE, "example.toml", env(&[])).unwrap();
    assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
    let p = c.primary().unwrap();
    assert_eq!(p.poll_interval, Duration::from_secs(1));
    assert_eq!(p.node_id, "primary-1");
    let b = c.backup().unwrap();
    assert_eq!(b.sync_poll_interval, Duration::from_secs(3600));
    assert_eq!(b.workers, 8, "as the example sets it");
    assert_eq!(c.sync_token().unwrap().len(), 40);
}

#[test]
fn environment_overrides_the_file() {
    let c = Config::from_parts(
        EXAMPLE,
        "example.toml",
        env(&[
            ("SEAF_BACKUP_KAFKA_BROKERS", "k1:9092,k2:9092"),
            ("SEAF_BACKUP_BACKUP_WORKERS", "3"),
            ("SEAF_BACKUP_BACKUP_SYNC_POLL_INTERVAL", "2"),
            ("SEAF_BACKUP_PRIMARY_POLL_INTERVAL", "250ms"),
            ("SEAF_BACKUP_SYNC_TOKEN", "0123456789abcdef0123"),
            ("SEAF_BACKUP_KAFKA_PROPERTIES_SASL_USERNAME", "svc"),
            ("SEAF_BACKUP_KAFKA_PARTITIONS", "12"),
            ("SEAF_BACKUP_KAFKA_SCHEMA_REGISTRY_URL", "http://registry:8081"),
            ("SEAF_BACKUP_LOG", "debug"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.kafka.brokers, "k1:9092,k2:9092");
    assert_eq!(c.backup().unwrap().workers, 3);
    assert_eq!(c.backup().unwrap().sync_poll_interval, Duration::from_secs(7200));
    assert_eq!(c.primary().unwrap().poll_interval, Duration::from_millis(250));
    assert_eq!(c.sync_token().unwrap(), "0123456789abcdef0123");
    assert_eq!(c.kafka.properties["sasl.username"], "svc");
    assert_eq!(c.kafka.partitions, 12);
    assert_eq!(c.kafka.schema_registry_url.as_deref(), Some("http://registry:8081"));
    assert_eq!(
        c.kafka.topic, "seafile-repo-updates",
        "keys not overridden keep the file's"
    );
}

#[test]
fn kafka_section_is_seaf_kafkas_settings() {
    let c = Config::from_parts("", "empty.toml", env(&[])).unwrap();
    assert_eq!(c.kafka, KafkaSettings::default());

    let err = Config::from_parts("[kafka]\nbrokerz = \"k:9092\"\n", "my.toml", env(&[])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("my.toml") && msg.contains("kafka.brokerz"), "{msg}");
    // Not configurable: internal to the kafka crate.
    let err = Config::from_parts("[kafka]\ncompacted = false\n", "my.toml", env(&[])).unwrap_err();
    assert!(format!("{err:#}").contains("kafka.compacted"), "{err:#}");

    let err = Config::from_parts("", "my.toml", env(&[("SEAF_BACKUP_KAFKA_PARTITIONS", "many")])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("SEAF_BACKUP_KAFKA_PARTITIONS") && msg.contains("kafka.partitions"),
        "{msg}"
    );
}

#[test]
fn errors_name_the_key_and_the_file() {
    let err = Config::from_parts("[backup]\nseafile_data_dir = \"/x\"\n", "my.toml", env(&[])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("my.toml") && msg.contains("database_url"), "{msg}");

    let err = Config::from_parts(
        "[primary]\nseafile_data_dir = \"/x\"\ndatabase_url = \"sqlite:///x\"\npoll_intervall = \"1s\"\n",
        "my.toml",
        env(&[]),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("my.toml") && msg.contains("poll_intervall"), "{msg}");

    let err = Config::from_parts(EXAMPLE, "my.toml", env(&[("SEAF_BACKUP_BACKUP_WORKERS", "many")])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("SEAF_BACKUP_BACKUP_WORKERS") && msg.contains("workers"),
        "{msg}"
    );

    let err = Config::from_parts(
        "[primary]\nseafile_data_dir = \"/x\"\ndatabase_url = \"sqlite:///x\"\npoll_interval = \"soon\"\n",
        "my.toml",
        env(&[]),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("not a duration"), "{err:#}");
}

#[test]
fn seafile_conf_backup_keys_fill_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("seafile.conf");
    std::fs::write(
        &conf,
        "[fileserver]\nport = 8082\n\n[backup]\nprimary_url = http://primary-server\nsync_token = 5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e\nsync_poll_interval = 3\n",
    )
    .unwrap();
    let text = format!(
        "seafile_conf = {:?}\n[backup]\nseafile_data_dir = \"/b\"\ndatabase_url = \"sqlite:///b.db\"\n",
        conf
    );
    let c = Config::from_parts(&text, "my.toml", env(&[])).unwrap();
    let b = c.backup().unwrap();
    assert_eq!(b.primary_url.as_deref(), Some("http://primary-server"));
    assert_eq!(b.sync_poll_interval, Duration::from_secs(3 * 3600));
    assert_eq!(c.sync_token().unwrap(), "5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e");

    // The TOML file wins over seafile.conf.
    let text = format!("{text}primary_url = \"http://other\"\nsync_poll_interval = \"30m\"\n");
    let c = Config::from_parts(&text, "my.toml", env(&[])).unwrap();
    assert_eq!(c.backup().unwrap().primary_url.as_deref(), Some("http://other"));
    assert_eq!(c.backup().unwrap().sync_poll_interval, Duration::from_secs(1800));
}

#[test]
fn an_all_digit_token_from_the_environment_stays_a_string_and_is_never_printed() {
    let digits = "12345678901234567";
    let c = Config::from_parts("", "my.toml", env(&[("SEAF_BACKUP_SYNC_TOKEN", digits)])).unwrap();
    assert_eq!(c.sync_token().unwrap(), digits);
    let err = Config::from_parts(
        EXAMPLE,
        "my.toml",
        env(&[("SEAF_BACKUP_SYNC_TOKEN", "c7a78c0210c2470e14a20a8244562ab8ad509734")]),
    )
    .unwrap()
    .sync_token()
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("published") && !format!("{err:#}").contains("c7a78c02"),
        "{err:#}"
    );
}

#[test]
fn change_capture_defaults_to_auto_with_a_slow_full_read() {
    let c = Config::from_parts(EXAMPLE, "example.toml", env(&[])).unwrap();
    let p = c.primary().unwrap();
    assert_eq!(p.change_capture, ChangeCapture::Auto);
    assert_eq!(p.full_read_interval, Duration::from_secs(300));
    assert_eq!(p.binlog_server_id, None);
    let c = Config::from_parts(
        EXAMPLE,
        "example.toml",
        env(&[
            ("SEAF_BACKUP_PRIMARY_CHANGE_CAPTURE", "binlog"),
            ("SEAF_BACKUP_PRIMARY_FULL_READ_INTERVAL", "1h"),
            ("SEAF_BACKUP_PRIMARY_BINLOG_SERVER_ID", "4242"),
        ]),
    )
    .unwrap();
    let p = c.primary().unwrap();
    assert_eq!(p.change_capture, ChangeCapture::Binlog);
    assert_eq!(p.full_read_interval, Duration::from_secs(3600));
    assert_eq!(p.binlog_server_id, Some(4242));
    let err = Config::from_parts(
        EXAMPLE,
        "my.toml",
        env(&[("SEAF_BACKUP_PRIMARY_CHANGE_CAPTURE", "debezium")]),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("change_capture") && msg.contains("poll"), "{msg}");
}
