//! Bundle files: phone-to-phone transfer when there is no signal (share sheet,
//! Bluetooth, SD card). A bundle is a wire frame of kind `Bundle` holding the same
//! signed batches, tallies and roster the relay serves; importing it runs the same
//! checks. A truncated or altered file fails to decode (zstd checksum, postcard
//! framing) or to verify (signatures) and is refused whole.

use crate::error::{Error, Result};
use crate::store::{ReceiveReport, Store};
use crate::wire::{self, Bundle, FrameKind, Have};
use std::path::Path;

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

/// Write what `store` holds (or what the peer described by `have` lacks) to `path`.
/// Returns the number of bytes written. The file is written to a temporary name and
/// renamed, so a crash never leaves half a bundle under the final name.
pub fn export(store: &Store, path: &Path, have: Option<&Have>) -> Result<u64> {
    let b = store.export_bundle(have)?;
    let bytes = wire::encode(FrameKind::Bundle, &b);
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
    let b = decode(&read_limited(path)?)?;
    store.import_bundle(&b)
}

/// Write this phone's `Have` summary, for a peer to export only what it lacks.
pub fn write_have(store: &Store, path: &Path) -> Result<()> {
    std::fs::write(path, wire::encode(FrameKind::Have, &store.have()?))?;
    Ok(())
}

pub fn read_have(path: &Path) -> Result<Have> {
    Ok(wire::decode(FrameKind::Have, &read_limited(path)?)?)
}
