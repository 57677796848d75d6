//! The shared `sync_token`: long, random-looking, and not one anybody can read in a manual.

/// Tokens published in documentation: Seafile's manual for its real-time backup server uses
/// this one in its example `seafile.conf`, and so did seaf-backup's design notes. A backup
/// guarded by a published token is open to anyone who reached the object API.
const PUBLISHED: &[&str] = &["c7a78c0210c2470e14a20a8244562ab8ad509734"];

const HOW: &str = "generate one with `openssl rand -hex 20` and set the same value on the primary and the backup";

/// The token, or what is wrong with it (the message never repeats the token).
pub(super) fn check(token: Option<&str>) -> Result<&str, String> {
    let Some(token) = token else {
        return Err(format!(
            "missing key `sync_token` (the secret shared by primary and backup): {HOW}"
        ));
    };
    if PUBLISHED.contains(&token) {
        return Err(format!(
            "`sync_token` is the example token published in Seafile's manual, which anyone can read: {HOW}"
        ));
    }
    let lower = token.to_ascii_lowercase();
    let placeholder = lower.contains("change-me") || lower.contains("changeme");
    if placeholder
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~+/=-".contains(c))
    {
        return Err(format!("`sync_token` is a placeholder, not a token: {HOW}"));
    }
    if token.len() < 16 {
        return Err(format!("`sync_token` is too short (at least 16 characters): {HOW}"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn only_real_looking_unpublished_tokens_pass() {
        assert_eq!(
            check(Some("5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e")),
            Ok("5f0c3b9e2a7d4c1f8e6b0a9d3c2e1f4a7b8c9d0e")
        );
        assert!(check(Some("c7a78c0210c2470e14a20a8244562ab8ad509734"))
            .unwrap_err()
            .contains("published"));
        assert!(check(Some("<40 random hex characters: openssl rand -hex 20>"))
            .unwrap_err()
            .contains("placeholder"));
        assert!(check(Some("CHANGE-ME-0123456789abcdef0123456789abcdef"))
            .unwrap_err()
            .contains("placeholder"));
        assert!(check(Some("x1y2")).unwrap_err().contains("too short"));
        assert!(check(None).unwrap_err().contains("missing"));
        for bad in [
            "x1y2",
            "<40 random hex characters>",
            "c7a78c0210c2470e14a20a8244562ab8ad509734",
        ] {
            assert!(
                !check(Some(bad)).unwrap_err().contains(bad),
                "the message repeats the token"
            );
        }
    }
}
