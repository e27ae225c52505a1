//! The LAN as a person sees it: a sender's `--name` and its announcement,
//! `receiver --list`, and the receiver that finds its sender by itself
//! or by name (`--connect NAME`).

use std::fmt::Write as _;
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};

use crate::console::{self, Kind};
use crate::limits;
use crate::link::discovery::{self, Announcement, Announcer, Found};
use crate::link::handshake::printable;
use crate::link::target::{self, Located, NOT_FOUND_HINT};
use crate::ui::cli::UsageError;
use crate::wire::PROTOCOL_VERSION;

/// This machine's name, as a sender announces it unless `--name` says
/// otherwise: the host name, cut to a DNS label's length.
pub fn default_name() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let clean: String = host.chars().filter(|c| !c.is_control()).collect();
    parse_name(cut(clean.trim(), limits::MAX_NAME_BYTES)).unwrap_or_else(|_| "camwire".into())
}

/// Reads `--name`: 1 to 63 bytes (one DNS label), no control characters.
pub fn parse_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    if name.is_empty() {
        return Err("a name needs at least one character".into());
    }
    if name.len() > limits::MAX_NAME_BYTES {
        return Err(format!(
            "the name is {} bytes long; a name on the LAN is at most {}",
            name.len(),
            limits::MAX_NAME_BYTES
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a name cannot hold control characters".into());
    }
    Ok(name.to_string())
}

/// `text` cut to at most `bytes` bytes, at a character's edge.
fn cut(text: &str, bytes: usize) -> &str {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Announces a sender listening on `local`, unless `off`; a failure is a
/// warning, not an end: receivers can still use an address. A name
/// taken already on the LAN is said with the one announced instead.
pub fn announce(local: SocketAddr, what: Announcement, off: bool) -> Option<Announcer> {
    if off {
        return None;
    }
    let old = what.name.clone();
    let renamed = move |new: String| {
        console::say(
            Kind::Single,
            format!(
                "another sender on the LAN is called {old}, so this one is announced as {new}: receivers give --connect {}",
                shell_word(&new)
            ),
        );
    };
    discovery::announce(local, &what, renamed).unwrap_or_else(|e| {
        console::warn(&format!(
            "not announced on the LAN ({e:#}): receivers need one of the addresses below"
        ));
        None
    })
}

/// `receiver --list`: the senders found, one a line, on standard output;
/// when there are none, one line on standard error saying what to check.
pub fn list() -> Result<()> {
    let found = look()?;
    if found.is_empty() {
        console::warn(&nobody_there());
        return Ok(());
    }
    console::output(&table(&found)).context("could not print the senders found")
}

/// Where a `--connect` value leads, looking on the LAN for a bare word.
pub fn locate(arg: &str) -> Result<Located> {
    let located = target::locate(arg)?;
    if let Located::Sender(found) = &located {
        console::info(&format!(
            "found {} at {}",
            printable(&found.name),
            found.addr
        ));
    }
    Ok(located)
}

/// The address of the only sender on the LAN that does what this
/// receiver asks (takes calls when `chat`, streams one way otherwise).
/// Several are a [`UsageError`]: they are listed on standard output when
/// `list_them` (it is free), and named in the error line.
pub fn only_sender(chat: bool, list_them: bool) -> Result<Located> {
    let found = look()?;
    let (fit, other): (Vec<Found>, Vec<Found>) = found.into_iter().partition(|f| f.chat == chat);
    match &fit[..] {
        [] => bail!(none_that_fits(chat, other.len())),
        [only] => {
            console::info(&format!("found {} at {}", printable(&only.name), only.addr));
            Ok(Located::Sender(only.clone()))
        }
        several => {
            if list_them {
                console::output(&table(several)).context("could not print the senders found")?;
            }
            let names: Vec<String> = several.iter().map(|f| printable(&f.name)).collect();
            let flag = if chat { " --chat" } else { "" };
            Err(UsageError(format!(
                "found {} senders on the LAN ({}): say which with --connect NAME, e.g. receiver --connect {}{flag}",
                several.len(),
                names.join(", "),
                shell_word(&names[0]),
            ))
            .into())
        }
    }
}

/// Looks around the LAN for [`limits::DISCOVERY_WAIT`].
fn look() -> Result<Vec<Found>> {
    console::info("looking for senders on the LAN");
    discovery::browse(limits::DISCOVERY_WAIT, |_| false)
        .context("could not look for senders on the LAN")
}

fn nobody_there() -> String {
    format!(
        "no camwire sender answered on the LAN within {:?} ({NOT_FOUND_HINT})",
        limits::DISCOVERY_WAIT
    )
}

fn none_that_fits(chat: bool, other: usize) -> String {
    match (chat, other) {
        (_, 0) => format!("{}; or give --connect ADDR", nobody_there()),
        (true, n) => format!(
            "no sender on the LAN takes calls ({n} found stream one way): start the other side with sender --chat, or leave out --chat to watch"
        ),
        (false, n) => {
            format!("the only senders on the LAN take calls ({n} found): add --chat to call one")
        }
    }
}

/// The senders, one a line: name, address, `private` or `open`, `chat`
/// when it takes calls, and the protocol version when it is not ours.
fn table(found: &[Found]) -> String {
    let names: Vec<String> = found.iter().map(|f| printable(&f.name)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (found, name) in found.iter().zip(&names) {
        let pad = width - name.chars().count();
        let mode = if found.private { "private" } else { "open" };
        let _ = write!(
            out,
            "{name}{:pad$}  {:<21}  {mode}",
            "",
            found.addr.to_string()
        );
        if found.chat {
            out.push_str("  chat");
        }
        match found.version {
            Some(v) if v != PROTOCOL_VERSION => {
                let _ = write!(
                    out,
                    "  protocol {v} (this receiver speaks {PROTOCOL_VERSION})"
                );
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// `word` as one word for a POSIX shell: as it is when it is plain,
/// otherwise in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-+=:,/@%".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_dns_label_without_control_characters() {
        assert_eq!(parse_name(" alice ").unwrap(), "alice");
        assert_eq!(parse_name("Alice's laptop").unwrap(), "Alice's laptop");
        assert!(parse_name("").is_err());
        assert!(
            parse_name(&"x".repeat(64))
                .unwrap_err()
                .contains("64 bytes")
        );
        assert!(parse_name("a\u{7}b").is_err());
        assert_eq!(parse_name(&"é".repeat(31)).unwrap().len(), 62);
    }

    #[test]
    fn the_default_name_is_a_valid_one() {
        assert!(parse_name(&default_name()).is_ok());
    }

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_word("alice"), "alice");
        assert_eq!(shell_word("Alice's laptop"), r"'Alice'\''s laptop'");
        assert_eq!(shell_word("a b"), "'a b'");
    }

    #[test]
    fn the_list_has_a_line_per_sender_beginning_with_its_name() {
        let found = |name: &str, private, chat| Found {
            name: name.into(),
            addr: SocketAddr::from(([10, 0, 0, 2], 9999)),
            private,
            chat,
            version: Some(PROTOCOL_VERSION),
        };
        let text = table(&[found("al", false, true), found("bobby", true, false)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "al     10.0.0.2:9999          open  chat");
        assert_eq!(lines[1], "bobby  10.0.0.2:9999          private");
    }
}
