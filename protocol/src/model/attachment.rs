//! Attachments: photos, voice notes and scans that belong to a request, a notice (or one
//! of its finance lines or questions) or a deliberation.
//!
//! Why this module exists: casework runs on photos of a burst pipe, a 40-second voice
//! note from someone who cannot type, the scanned 户口簿 of a 低保 application. The
//! bytes are far too big for an automerge document and must not hold document sync
//! back, so a document carries only an [`Attachment`] — a *reference*: the content
//! address of the bytes, their size, type, name and (for audio and pictures) length or
//! pixel size, optionally a tiny inline preview. The reference sits inside a signed
//! change, so the author's signature covers the bytes; the bytes travel in their own
//! lane (relay `/v1/blobs`, `core::blobs`) and are verified piece by piece as they arrive.
//!
//! **The content address.** The bytes are cut into pieces of [`PIECE_BYTES`]; the
//! attachment's `hash` is SHA-256 over a domain tag, the size and the SHA-256 of each
//! piece in order ([`root`]). Whoever holds the reference can check a piece list
//! ([`PieceList::verify`]) and then every piece on its own, so a cut connection keeps
//! every whole piece it delivered and a corrupt piece is refused before it is stored,
//! never after the whole file has arrived.
//!
//! **What is allowed** is decided here, once, for the phone and the relay alike: the
//! type by the bytes' signature ([`sniff`], never the file name), a size limit per
//! kind ([`Kind::max_bytes`]), the fields' bounds ([`Attachment::check`]). Where an
//! event may carry attachments and who may append it is the policy's
//! (`policy::check_write`), and who may fetch the bytes is the parent entity's read rule.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The unit of verification and of resumption: a cut loses at most the piece in flight
/// (16 KiB: on a 2G link that drops every ~100 KB, a larger piece would waste a third
/// of what was sent; the piece list costs 32 bytes a piece, 0.2 % of the blob).
pub const PIECE_BYTES: usize = 16 * 1024;
/// The most bytes one blob request or answer carries (what mobile proxies let through).
pub const MAX_TRANSFER_BYTES: usize = 1024 * 1024;
/// The most attachments one event may carry.
pub const MAX_PER_EVENT: usize = 20;
/// The longest inline preview, in bytes before base64.
pub const MAX_PREVIEW_BYTES: usize = 4 * 1024;
/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// The longest voice note or recording: one hour.
pub const MAX_DURATION_MS: u64 = 60 * 60 * 1000;
/// The largest picture side, in pixels.
pub const MAX_PIXELS_SIDE: u32 = 30_000;
/// Most pieces a blob has at the largest size (the piece list's bound).
pub const MAX_PIECES: usize = (Kind::LARGEST as usize).div_ceil(PIECE_BYTES);

/// What people attach, by what it is for: the size limits and the download order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Kind {
    /// A voice note or other recording (AAC/M4A, Opus/Ogg, AMR).
    Voice,
    /// A photo (JPEG, PNG, WebP).
    Photo,
    /// A scan or other document (PDF).
    Document,
}

impl Kind {
    /// The largest blob of any kind.
    pub const LARGEST: u64 = 20 * 1024 * 1024;

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Voice => "voice",
            Kind::Photo => "photo",
            Kind::Document => "document",
        }
    }

    /// The most bytes one attachment of this kind may have.
    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::Voice => 10 * 1024 * 1024,
            Kind::Photo => 10 * 1024 * 1024,
            Kind::Document => Kind::LARGEST,
        }
    }

    /// Whether a phone fetches it without being asked (voice notes and photos), or
    /// only when someone opens it (documents).
    pub fn fetched_eagerly(self) -> bool {
        !matches!(self, Kind::Document)
    }
}

/// The types an attachment may have, each recognised by its bytes.
pub const MIME_TYPES: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "audio/mp4",
    "audio/ogg",
    "audio/amr",
    "application/pdf",
];

/// The kind a MIME type belongs to (`None` for a type we do not take).
pub fn kind_of(mime: &str) -> Option<Kind> {
    match mime {
        "image/jpeg" | "image/png" | "image/webp" => Some(Kind::Photo),
        "audio/mp4" | "audio/ogg" | "audio/amr" => Some(Kind::Voice),
        "application/pdf" => Some(Kind::Document),
        _ => None,
    }
}

/// The type of a file by its first bytes (at least 16 of them), whatever its name says.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, s: &[u8]| head.len() >= i + s.len() && &head[i..i + s.len()] == s;
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some("image/webp")
    } else if at(4, b"ftyp")
        && (at(8, b"M4A ") || at(8, b"mp42") || at(8, b"isom") || at(8, b"M4B "))
    {
        Some("audio/mp4")
    } else if at(0, b"OggS") {
        Some("audio/ogg")
    } else if at(0, b"#!AMR") {
        Some("audio/amr")
    } else if at(0, b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// A reference to attached bytes, as a signed change carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Attachment {
    /// The content address ([`root`]): 64 lowercase hex characters.
    pub hash: String,
    /// Bytes.
    pub size: u64,
    /// One of [`MIME_TYPES`], as sniffed from the bytes.
    pub mime: String,
    /// The file name people see (no folders).
    pub name: String,
    /// A recording's length.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A tiny picture (JPEG or WebP, base64, at most [`MAX_PREVIEW_BYTES`]) shown
    /// before the bytes arrive.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl Attachment {
    /// The kind its type belongs to (checked attachments always have one).
    pub fn kind(&self) -> Kind {
        kind_of(&self.mime).unwrap_or(Kind::Document)
    }

    /// Everything a participant can check of a reference without the bytes.
    pub fn check(&self) -> Result<()> {
        if !is_hash(&self.hash) {
            return Err(Error::invalid(format!(
                "attachment hash {:?} is not 64 lowercase hex characters",
                self.hash
            )));
        }
        let Some(kind) = kind_of(&self.mime) else {
            return Err(Error::invalid(format!(
                "attachments of type {:?} are not taken; send one of {}",
                self.mime,
                MIME_TYPES.join(", ")
            )));
        };
        if self.size == 0 {
            return Err(Error::invalid("an attachment may not be empty"));
        }
        if self.size > kind.max_bytes() {
            return Err(Error::TooLarge(format!(
                "a {} attachment may have at most {} bytes; {} has {}",
                kind.as_str(),
                kind.max_bytes(),
                self.name,
                self.size
            )));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid(format!(
                "an attachment's name must be 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        if name.contains(['/', '\\', '\0']) || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "an attachment's name may not hold a folder, a slash or control characters",
            ));
        }
        // characters that reorder or hide text on screen: "发票\u{202E}gpj.exe" shows as
        // 发票exe.jpg
        if name.chars().any(|c| {
            matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
        }) {
            return Err(Error::invalid(
                "an attachment's name may not hold characters that reorder or hide text (bidirectional controls, zero-width characters)",
            ));
        }
        if self.duration_ms.is_some_and(|d| d > MAX_DURATION_MS) {
            return Err(Error::invalid("a recording may last at most one hour"));
        }
        if self.duration_ms.is_some() && kind != Kind::Voice {
            return Err(Error::invalid("only a recording has a duration"));
        }
        if (self.width.is_some() || self.height.is_some()) && kind != Kind::Photo {
            return Err(Error::invalid("only a picture has a pixel size"));
        }
        if self
            .width
            .into_iter()
            .chain(self.height)
            .any(|s| s == 0 || s > MAX_PIXELS_SIDE)
        {
            return Err(Error::invalid(format!(
                "a picture's sides must be 1 to {MAX_PIXELS_SIDE} pixels"
            )));
        }
        if let Some(p) = &self.preview {
            if p.len() > MAX_PREVIEW_BYTES.div_ceil(3) * 4
                || !p
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
            {
                return Err(Error::invalid(format!(
                    "an attachment's preview must be base64 of at most {MAX_PREVIEW_BYTES} bytes"
                )));
            }
        }
        Ok(())
    }
}

/// Check the attachments of one event: at most [`MAX_PER_EVENT`], each valid, none twice.
pub fn check_all(list: &[Attachment]) -> Result<()> {
    if list.len() > MAX_PER_EVENT {
        return Err(Error::invalid(format!(
            "an event may carry at most {MAX_PER_EVENT} attachments; this one has {}",
            list.len()
        )));
    }
    for (i, a) in list.iter().enumerate() {
        a.check()?;
        if list[..i].iter().any(|b| b.hash == a.hash) {
            return Err(Error::invalid(format!(
                "{} is attached twice to one event",
                a.name
            )));
        }
    }
    Ok(())
}

/// 64 lowercase hex characters.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// How many pieces a blob of `size` bytes has.
pub fn piece_count(size: u64) -> usize {
    (size as usize).div_ceil(PIECE_BYTES)
}

/// The length of piece `i` of a blob of `size` bytes.
pub fn piece_len(size: u64, i: usize) -> usize {
    let start = i * PIECE_BYTES;
    (size as usize).saturating_sub(start).min(PIECE_BYTES)
}

/// SHA-256 of one piece.
pub fn piece_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The content address of a blob of `size` bytes whose pieces hash to `pieces`.
pub fn root(size: u64, pieces: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    h.update(b"cunwu-blob-v1\0");
    h.update(size.to_le_bytes());
    for p in pieces {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The SHA-256 of every piece of a blob, in order: what the uploader sends first and
/// the downloader fetches first, checked against the content address before any
/// piece is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceList {
    pub size: u64,
    pub pieces: Vec<[u8; 32]>,
}

impl PieceList {
    /// The piece list of bytes held in full (attaching a file).
    pub fn of(bytes: &[u8]) -> PieceList {
        PieceList {
            size: bytes.len() as u64,
            pieces: bytes.chunks(PIECE_BYTES).map(piece_hash).collect(),
        }
    }

    pub fn hash(&self) -> String {
        root(self.size, &self.pieces)
    }

    /// The wire and disk form: the pieces' hashes, 32 bytes each.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.pieces.concat()
    }

    /// Read a piece list for a blob of `size` bytes named `hash`, refusing one that
    /// does not hash to it.
    pub fn verify(hash: &str, size: u64, bytes: &[u8]) -> Result<PieceList> {
        let n = piece_count(size);
        if n > MAX_PIECES || bytes.len() != n * 32 {
            return Err(Error::Malformed(format!(
                "a piece list for {size} bytes has {n} hashes of 32 bytes; this one has {} bytes",
                bytes.len()
            )));
        }
        let list = PieceList {
            size,
            pieces: bytes
                .chunks(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect(),
        };
        if list.hash() != hash {
            return Err(Error::BadSignature(format!(
                "the piece list does not hash to the attachment {hash}"
            )));
        }
        Ok(list)
    }

    /// Check piece `i`; a corrupt or misplaced piece is refused.
    pub fn check_piece(&self, i: usize, bytes: &[u8]) -> Result<()> {
        match self.pieces.get(i) {
            Some(h) if bytes.len() == piece_len(self.size, i) && piece_hash(bytes) == *h => Ok(()),
            Some(_) => Err(Error::BadSignature(format!(
                "piece {i} does not match the attachment's piece list (corrupted in transit?)"
            ))),
            None => Err(Error::invalid(format!(
                "piece {i} is past the end of the attachment ({} pieces)",
                self.pieces.len()
            ))),
        }
    }
}

/// An attachment as an entity holds it: the reference, who attached it and when, and
/// what within the entity it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Attached {
    pub attachment: Attachment,
    pub by: String,
    pub at: i64,
    /// The event within the entity it belongs to (a comment, a question); `None` for
    /// the entity itself.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub to: Option<String>,
    /// The finance line (index in the notice's current revision) it documents.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub line: Option<u32>,
}

/// Every attachment the events of an entity reference, with who attached it, read from
/// where the model puts them and nowhere else: a request's `file` event and the
/// `attach` events of requests, notices and deliberations. (An `attachments` key in any
/// other event is not a reference: it confers no right to fetch anything.)
pub fn referenced(kind: crate::model::EntityKind, events: &[Value]) -> Vec<(String, Attachment)> {
    use crate::model::EntityKind as K;
    if !matches!(kind, K::Request | K::Notice | K::Deliberation) {
        return vec![];
    }
    let mut out = vec![];
    for e in events {
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        let carries = ty == "attach" || (ty == "file" && kind == K::Request);
        if !carries {
            continue;
        }
        let by = e
            .get("by")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(list) = e.get("attachments").and_then(Value::as_array) {
            for a in list {
                if let Ok(a) = serde_json::from_value::<Attachment>(a.clone()) {
                    if a.check().is_ok() {
                        out.push((by.clone(), a));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(bytes: &[u8]) -> Attachment {
        Attachment {
            hash: PieceList::of(bytes).hash(),
            size: bytes.len() as u64,
            mime: "image/jpeg".into(),
            name: "水管.jpg".into(),
            duration_ms: None,
            width: Some(800),
            height: Some(600),
            preview: None,
        }
    }

    #[test]
    fn types_are_recognised_by_their_bytes_not_their_names() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0"),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0"),
            Some("application/pdf")
        );
        assert_eq!(
            sniff(b"#!AMR\n\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            Some("audio/amr")
        );
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0\0\0\0"), Some("audio/mp4"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0"), None);
        assert_eq!(sniff(b"<html><body>hi</body></html>"), None);
    }

    #[test]
    fn the_content_address_covers_every_piece_and_the_size() {
        let bytes: Vec<u8> = (0..PIECE_BYTES * 2 + 17).map(|i| (i % 251) as u8).collect();
        let list = PieceList::of(&bytes);
        assert_eq!(list.pieces.len(), 3);
        let hash = list.hash();
        assert!(is_hash(&hash));
        let back = PieceList::verify(&hash, bytes.len() as u64, &list.to_bytes()).unwrap();
        assert_eq!(back, list);
        // a piece list that does not hash to the address is refused
        let mut wrong = list.to_bytes();
        wrong[5] ^= 1;
        assert!(PieceList::verify(&hash, bytes.len() as u64, &wrong).is_err());
        assert!(PieceList::verify(&hash, bytes.len() as u64 + 1, &list.to_bytes()).is_err());
        // each piece on its own
        list.check_piece(0, &bytes[..PIECE_BYTES]).unwrap();
        list.check_piece(2, &bytes[2 * PIECE_BYTES..]).unwrap();
        let mut bad = bytes[PIECE_BYTES..2 * PIECE_BYTES].to_vec();
        bad[100] ^= 0x40;
        assert!(list.check_piece(1, &bad).is_err());
        assert!(list.check_piece(3, &[1]).is_err());
    }

    #[test]
    fn references_are_checked_without_the_bytes() {
        let ok = photo(b"\xFF\xD8\xFF\xE0 some jpeg");
        ok.check().unwrap();
        let mut big = ok.clone();
        big.size = Kind::Photo.max_bytes() + 1;
        assert!(matches!(big.check(), Err(Error::TooLarge(_))));
        let mut exe = ok.clone();
        exe.mime = "application/x-msdownload".into();
        assert!(exe.check().is_err());
        let mut path = ok.clone();
        path.name = "../../etc/passwd".into();
        assert!(path.check().is_err());
        let mut voice_px = ok.clone();
        voice_px.mime = "audio/amr".into();
        assert!(voice_px.check().is_err());
        assert!(check_all(&[ok.clone(), ok.clone()]).is_err());
        assert!(check_all(&vec![ok; MAX_PER_EVENT + 1]).is_err());
    }
}
