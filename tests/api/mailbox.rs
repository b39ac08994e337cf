//! Reads what the real SMTP server (aiosmtpd, started by `scripts/test.sh`)
//! delivered into its maildir: one file per message, with the envelope
//! recipient in `X-RcptTo`. Parses just enough MIME for our emails: the
//! text and HTML parts of a multipart/alternative, quoted-printable or
//! base64 or plain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

/// One delivered email.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// The `List-Unsubscribe` and `List-Unsubscribe-Post` headers (empty
    /// when absent).
    pub list_unsubscribe: String,
    pub list_unsubscribe_post: String,
}

impl Mail {
    /// The first link in the text part that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix} link in {}", self.text));
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// The `token` query parameter of the first link starting with `prefix`.
    pub fn token(&self, prefix: &str) -> String {
        let link = self.link(prefix);
        link.split("token=")
            .nth(1)
            .expect("token in link")
            .to_string()
    }
}

/// The maildir `scripts/test.sh` started the SMTP server with.
pub fn maildir() -> PathBuf {
    PathBuf::from(std::env::var("MAILDIR").expect(
        "MAILDIR is not set: run the suite with scripts/test.sh, which starts an SMTP server",
    ))
}

/// Every message in `dir` addressed to `to`.
pub fn messages_in(dir: &Path, to: &str) -> Vec<Mail> {
    let mut out = vec![];
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let mail = parse(&raw);
            if mail.to.eq_ignore_ascii_case(to) {
                out.push(mail);
            }
        }
    }
    out
}

/// Every message to `to` in the suite's maildir.
pub fn messages_to(to: &str) -> Vec<Mail> {
    messages_in(&maildir(), to)
}

/// Waits (up to 10 s) until `to` has a message whose subject contains
/// `subject`, and returns it.
pub async fn wait_for(to: &str, subject: &str) -> Mail {
    wait_in(&maildir(), to, subject).await
}

/// Waits (up to 10 s) for a message to `to` whose Message-ID is not in
/// `seen` (taken before the action that sends it).
pub async fn wait_new(to: &str, seen: &[String]) -> Mail {
    for _ in 0..100 {
        if let Some(m) = messages_to(to)
            .into_iter()
            .find(|m| !seen.contains(&m.message_id))
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new email to {to}")
}

/// The Message-IDs of the messages `to` has now.
pub fn seen(to: &str) -> Vec<String> {
    messages_to(to).into_iter().map(|m| m.message_id).collect()
}

pub async fn wait_in(dir: &Path, to: &str, subject: &str) -> Mail {
    for _ in 0..100 {
        if let Some(m) = messages_in(dir, to)
            .into_iter()
            .find(|m| m.subject.contains(subject))
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no email \"{subject}\" to {to}; it has {:?}",
        messages_in(dir, to)
            .iter()
            .map(|m| &m.subject)
            .collect::<Vec<_>>()
    )
}

fn split_head(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = vec![];
    for line in head.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn decode(headers: &[(String, String)], body: &str) -> String {
    match header(headers, "content-transfer-encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap(),
            )
            .unwrap()
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_string(),
    }
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Decodes an RFC 2047 encoded-word subject (`=?utf-8?b?...?=`), if it is one.
fn decode_words(s: &str) -> String {
    let mut out = String::new();
    for word in s.split_whitespace() {
        let parts: Vec<&str> = word.split('?').collect();
        if parts.len() == 5 && parts[0] == "=" && parts[4] == "=" {
            let text = match parts[2].to_ascii_lowercase().as_str() {
                "b" => String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(parts[3])
                        .unwrap(),
                )
                .unwrap(),
                _ => quoted_printable(&parts[3].replace('_', " ")),
            };
            out.push_str(&text);
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

pub fn parse(raw: &str) -> Mail {
    let (headers, body) = split_head(raw);
    let content_type = header(&headers, "content-type").to_string();
    let (mut text, mut html) = (String::new(), String::new());
    if let Some(b) = content_type.split("boundary=").nth(1) {
        let boundary = format!(
            "--{}",
            b.trim_matches('"')
                .split(';')
                .next()
                .unwrap()
                .trim_matches('"')
        );
        for part in body.split(&boundary).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let (h, b) = split_head(part.trim_start_matches('\n'));
            let decoded = decode(&h, b.trim_end_matches('\n'));
            if header(&h, "content-type").starts_with("text/html") {
                html = decoded;
            } else {
                text = decoded;
            }
        }
    } else {
        text = decode(&headers, &body);
    }
    let to = header(&headers, "x-rcptto");
    let to = if to.is_empty() {
        header(&headers, "to")
    } else {
        to
    };
    Mail {
        to: to.trim_matches(|c| c == '<' || c == '>').to_string(),
        subject: decode_words(header(&headers, "subject")),
        message_id: header(&headers, "message-id").to_string(),
        text,
        html,
        list_unsubscribe: header(&headers, "list-unsubscribe")
            .split_whitespace()
            .collect(),
        list_unsubscribe_post: header(&headers, "list-unsubscribe-post").to_string(),
    }
}
