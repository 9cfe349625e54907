//! Checksums: streaming local digests and asking the server for its digest of a file.
//! The server side is draft-bryan-ftpext-hash-02 (`OPTS HASH`, `HASH`), with the older
//! `XMD5`/`XSHA256` family as fallback, so that resumed transfers can be proven whole.

use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use crate::error::ClientError;
use crate::ftp::{Ftp, Reply};

/// The checksum the user picked with `--hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Parses the `--hash` value; dashes and case are ignored (`SHA-256` = `sha256`).
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Some(Algorithm::Md5),
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Lowercase name for messages: `verified md5 ...`.
    pub fn label(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The name used by `OPTS HASH` and in `HASH` replies (the IANA hash names).
    fn wire_name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// The pre-draft command that returns this digest.
    pub fn x_command(self) -> &'static str {
        match self {
            Algorithm::Md5 => "XMD5",
            Algorithm::Sha1 => "XSHA1",
            Algorithm::Sha256 => "XSHA256",
            Algorithm::Sha512 => "XSHA512",
        }
    }

    /// Length of the digest in hex digits, used to pick the digest out of free-form replies.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh running digest of this kind.
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Md5 => Hasher::Md5(Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
}

/// A running digest fed chunk by chunk as bytes pass, so no file is ever read whole.
pub enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// Feeds the next chunk.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest as lowercase hex, the form servers answer with.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Md5(h) => to_hex(&h.finalize()),
            Hasher::Sha1(h) => to_hex(&h.finalize()),
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::Sha512(h) => to_hex(&h.finalize()),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How this server answers hash questions; learnt on first use, then remembered so that
/// each later transfer costs one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashMethod {
    Unknown,
    /// `OPTS HASH <alg>` was accepted; use `HASH path`.
    Hash,
    /// Only the `XMD5`-style command works.
    XCommand,
    /// Neither: transfers cannot be verified.
    Unsupported,
}

/// What the server said about a file.
pub enum ServerDigest {
    Hex(String),
    /// The server has no hash command for this algorithm.
    Unsupported,
}

/// Asks the server for its digest of `path`, choosing and remembering the method.
pub fn server_digest(
    ftp: &mut Ftp,
    method: &mut HashMethod,
    algorithm: Algorithm,
    path: &str,
) -> Result<ServerDigest, ClientError> {
    if *method == HashMethod::Unknown {
        let reply = ftp.command(&format!("OPTS HASH {}", algorithm.wire_name()))?;
        *method = if reply.is_ok() {
            HashMethod::Hash
        } else {
            HashMethod::XCommand
        };
    }
    if *method == HashMethod::Hash {
        let reply = ftp.command(&format!("HASH {path}"))?;
        if reply.is_ok() {
            return parse_hash_reply(&reply, algorithm)
                .map(ServerDigest::Hex)
                .ok_or_else(|| ClientError::BadReply(reply.to_string()));
        }
        if !reply.is_not_implemented() {
            return Err(ClientError::Refused {
                what: format!("HASH {path}"),
                reply,
            });
        }
        // OPTS HASH was accepted but HASH is not: try the old command instead.
        *method = HashMethod::XCommand;
    }
    if *method == HashMethod::XCommand {
        let reply = ftp.command(&format!("{} {path}", algorithm.x_command()))?;
        if reply.is_ok() {
            return find_hex(&reply, algorithm)
                .map(ServerDigest::Hex)
                .ok_or_else(|| ClientError::BadReply(reply.to_string()));
        }
        if !reply.is_not_implemented() {
            return Err(ClientError::Refused {
                what: format!("{} {path}", algorithm.x_command()),
                reply,
            });
        }
        *method = HashMethod::Unsupported;
    }
    Ok(ServerDigest::Unsupported)
}

/// Digest from `213 SHA-256 0-1234 <hex> <path>`. The path may contain spaces, so only
/// the first three fields are read; the algorithm must be the one we asked for, because a
/// server that ignored OPTS HASH would otherwise make a correct file look corrupt.
fn parse_hash_reply(reply: &Reply, algorithm: Algorithm) -> Option<String> {
    let line = reply.lines.first()?;
    let mut fields = line.split_whitespace();
    let name = fields.next()?;
    let _range = fields.next()?;
    let hex = fields.next()?;
    let same = Algorithm::parse(name) == Some(algorithm);
    (same && is_hex_of_len(hex, algorithm.hex_len())).then(|| hex.to_ascii_lowercase())
}

/// XMD5-style replies differ between servers (`250 <hex>`, `213 <hex>`, `250 <path> <hex>`);
/// the digest is the one word of hex digits with the right length.
fn find_hex(reply: &Reply, algorithm: Algorithm) -> Option<String> {
    reply
        .lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| is_hex_of_len(w, algorithm.hex_len()))
        .map(|w| w.to_ascii_lowercase())
}

fn is_hex_of_len(word: &str, len: usize) -> bool {
    word.len() == len && word.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

    fn reply(code: u16, line: &str) -> Reply {
        Reply {
            code,
            lines: vec![line.to_string()],
        }
    }

    #[test]
    fn hasher_matches_known_digests() {
        assert_eq!(Algorithm::Md5.hasher().finish_hex(), EMPTY_MD5);
        let mut h = Algorithm::Sha256.hasher();
        h.update(b"abc");
        assert_eq!(
            h.finish_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_reply_with_spaces_in_path_is_parsed() {
        let r = reply(213, &format!("MD5 0-0 {EMPTY_MD5} my file.txt"));
        assert_eq!(
            parse_hash_reply(&r, Algorithm::Md5).as_deref(),
            Some(EMPTY_MD5)
        );
    }

    #[test]
    fn hash_reply_for_another_algorithm_is_rejected() {
        let r = reply(213, &format!("SHA-1 0-0 {EMPTY_MD5} f"));
        assert_eq!(parse_hash_reply(&r, Algorithm::Md5), None);
    }

    #[test]
    fn x_command_digest_is_found_anywhere_in_the_reply() {
        let upper = EMPTY_MD5.to_ascii_uppercase();
        assert_eq!(
            find_hex(&reply(250, EMPTY_MD5), Algorithm::Md5).as_deref(),
            Some(EMPTY_MD5)
        );
        let r = reply(213, &format!("file name {upper}"));
        assert_eq!(find_hex(&r, Algorithm::Md5).as_deref(), Some(EMPTY_MD5));
        assert_eq!(find_hex(&reply(250, "deadbeef"), Algorithm::Md5), None);
    }

    #[test]
    fn algorithm_names_parse_with_or_without_dash() {
        assert_eq!(Algorithm::parse("SHA-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse("crc32"), None);
    }
}
