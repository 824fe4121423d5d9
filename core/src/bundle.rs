//! Bundle files: phone-to-phone transfer when there is no signal (share sheet,
//! Bluetooth, SD card). A bundle is a wire frame of kind `Bundle` holding the same
//! signed batches, tallies and roster the relay serves; importing it runs the same
//! checks. A truncated or altered file fails to decode (zstd checksum, postcard
//! framing) or to verify (signatures) and is refused whole.
//!
//! **Attachments** ride after the frame, in a trailer this module reads and writes (the
//! wire frame is unchanged): `[hash: 64 hex][len: u64 LE][bytes]…` then the trailer's
//! length (u64 LE) and the magic `CWUATT01`. A bundle carries the attachments held
//! whole here that are referenced by an entity the peer may read (the same read rule
//! as the documents) and that the peer does not say it holds; every one is checked
//! against its content address before anything of the bundle is imported, and taken
//! only if an entity then held references it. A `Have` file names what its phone
//! holds the same way (`[hash]…`, length, `CWUHAV01`) — unsigned, since it can only
//! make a bundle smaller, never reach an attachment the signed summary's member may
//! not read. A bundle with no attachments is exactly the frame, as before.

use crate::error::{Error, Result};
use crate::model::attachment::{is_hash, Kind};
use crate::store::{ReceiveReport, Store};
use crate::wire::{self, Bundle, FrameKind, Have};
use std::path::Path;

const ATTACHMENTS_MAGIC: &[u8; 8] = b"CWUATT01";
const HOLDS_MAGIC: &[u8; 8] = b"CWUHAV01";
/// The most bytes of attachments one bundle file carries (the rest waits for the relay
/// or the next bundle).
pub const MAX_BUNDLE_ATTACHMENT_BYTES: u64 = 256 * 1024 * 1024;
/// The most hashes a `Have` file may name.
pub const MAX_HELD_HASHES: usize = 100_000;

/// Split a file into its frame and its trailer with `magic`, if it has one.
fn split_trailer<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    let n = bytes.len();
    if n < 16 || &bytes[n - 8..] != magic {
        return Ok((bytes, None));
    }
    let len = u64::from_le_bytes(bytes[n - 16..n - 8].try_into().expect("8 bytes"));
    if len > (n - 16) as u64 {
        return Err(Error::Malformed(format!(
            "the file's attachment section claims {len} bytes; the file has {n}"
        )));
    }
    let start = n - 16 - len as usize;
    Ok((&bytes[..start], Some(&bytes[start..n - 16])))
}

fn with_trailer(mut frame: Vec<u8>, section: Vec<u8>, magic: &[u8; 8]) -> Vec<u8> {
    if section.is_empty() {
        return frame;
    }
    let len = section.len() as u64;
    frame.extend_from_slice(&section);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(magic);
    frame
}

/// Read an attachment section, its bounds checked before any bytes are taken, and
/// every attachment checked against its content address.
fn parse_attachments(mut s: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |m: String| Error::Malformed(format!("bundle refused: its attachments: {m}"));
    let mut out = vec![];
    while !s.is_empty() {
        if s.len() < 72 {
            return Err(bad("an entry is cut short".into()));
        }
        let hash = std::str::from_utf8(&s[..64]).unwrap_or("");
        if !is_hash(hash) {
            return Err(bad("an entry does not start with a content address".into()));
        }
        let len = u64::from_le_bytes(s[64..72].try_into().expect("8 bytes"));
        if len == 0 || len > Kind::LARGEST || len > (s.len() - 72) as u64 {
            return Err(bad(format!("{hash} claims {len} bytes")));
        }
        let bytes = &s[72..72 + len as usize];
        if crate::model::attachment::PieceList::of(bytes).hash() != hash {
            return Err(Error::BadSignature(format!(
                "bundle refused: the bytes it carries for attachment {hash} do not hash to it"
            )));
        }
        out.push((hash.to_string(), bytes.to_vec()));
        s = &s[72 + len as usize..];
    }
    Ok(out)
}

/// Largest bundle file we read.
pub const MAX_BUNDLE_BYTES: u64 = 512 * 1024 * 1024;

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_BUNDLE_BYTES {
        return Err(Error::invalid(format!(
            "{} is {len} bytes; bundles are limited to {MAX_BUNDLE_BYTES}",
            path.display()
        )));
    }
    Ok(std::fs::read(path)?)
}

/// Write what `store` holds (or what the peer described by `have` lacks) to `path`,
/// with the attachments the peer may read (all of them held here: see `export_for`).
/// Returns the number of bytes written. The file is written to a temporary name and
/// renamed, so a crash never leaves half a bundle under the final name.
pub fn export(store: &Store, path: &Path, have: Option<&Have>) -> Result<u64> {
    export_for(store, path, have, &[])
}

/// `export`, leaving out the attachments the peer says it holds (`read_have_holding`).
pub fn export_for(
    store: &Store,
    path: &Path,
    have: Option<&Have>,
    holds: &[String],
) -> Result<u64> {
    let (b, readable) = store.export_bundle_readable(have)?;
    let frame = wire::encode(FrameKind::Bundle, &b);
    let room = MAX_BUNDLE_ATTACHMENT_BYTES
        .min(MAX_BUNDLE_BYTES.saturating_sub(frame.len() as u64 + (1 << 20)));
    let mut section = vec![];
    for (hash, bytes) in store.bundle_blobs(&readable, holds, room)? {
        section.extend_from_slice(hash.as_bytes());
        section.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        section.extend_from_slice(&bytes);
    }
    let bytes = with_trailer(frame, section, ATTACHMENTS_MAGIC);
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(bytes.len() as u64)
}

pub fn decode(bytes: &[u8]) -> Result<Bundle> {
    wire::decode(FrameKind::Bundle, bytes).map_err(|e| match Error::from(e) {
        Error::Malformed(m) => Error::Malformed(format!("bundle refused: {m}")),
        other => other,
    })
}

pub fn import(store: &Store, path: &Path) -> Result<ReceiveReport> {
    let file = read_limited(path)?;
    let (frame, section) = split_trailer(&file, ATTACHMENTS_MAGIC)?;
    // every attachment is checked before anything is imported: a bad one refuses all
    let blobs = section
        .map(parse_attachments)
        .transpose()?
        .unwrap_or_default();
    let b = decode(frame)?;
    let mut report = store.import_bundle(&b)?;
    for (hash, bytes) in blobs {
        // taken only if an entity now held here references it (and its size matches)
        match store.receive_blob(&hash, &bytes) {
            Ok(true) => report.attachments += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::info!(%hash, error = %e, "an attachment of the bundle was not taken")
            }
        }
    }
    Ok(report)
}

/// Write this phone's `Have` summary, for a peer to export only what it lacks, with
/// the attachments it holds.
pub fn write_have(store: &Store, path: &Path) -> Result<()> {
    let frame = wire::encode(FrameKind::Have, &store.have()?);
    let section: Vec<u8> = store.held_blobs()?.concat().into_bytes();
    std::fs::write(path, with_trailer(frame, section, HOLDS_MAGIC))?;
    Ok(())
}

pub fn read_have(path: &Path) -> Result<Have> {
    Ok(read_have_holding(path)?.0)
}

/// A `Have` file's summary and the attachments its phone says it holds.
pub fn read_have_holding(path: &Path) -> Result<(Have, Vec<String>)> {
    let file = read_limited(path)?;
    let (frame, section) = split_trailer(&file, HOLDS_MAGIC)?;
    let have = wire::decode(FrameKind::Have, frame)?;
    let section = section.unwrap_or_default();
    if section.len() % 64 != 0 || section.len() / 64 > MAX_HELD_HASHES {
        return Err(Error::Malformed(format!(
            "the summary's list of held attachments must be at most {MAX_HELD_HASHES} content addresses of 64 characters"
        )));
    }
    let holds = section
        .chunks(64)
        .map(|c| {
            std::str::from_utf8(c)
                .ok()
                .filter(|h| is_hash(h))
                .map(String::from)
                .ok_or_else(|| Error::Malformed("the summary names a held attachment by something that is not a content address".into()))
        })
        .collect::<Result<_>>()?;
    Ok((have, holds))
}
