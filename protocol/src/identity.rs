//! Device identity: an Ed25519 key pair per device. The public key is the device id
//! and the automerge actor id, so every change names the key that must have signed it.
//!
//! The private key lives in the store's `local` table for now. A platform keystore
//! (Android Keystore, iOS Keychain/Secure Enclave) can wrap it: the store only needs
//! `sign(bytes)`, so `DeviceKey` is the one place to swap for a keystore-backed signer.

use crate::error::{Error, Result};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

pub struct DeviceKey {
    key: SigningKey,
}

impl DeviceKey {
    pub fn generate() -> Self {
        DeviceKey {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }
    pub fn from_secret(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Malformed(format!(
                "device secret key must be 32 bytes, got {}",
                bytes.len()
            ))
        })?;
        Ok(DeviceKey {
            key: SigningKey::from_bytes(&arr),
        })
    }
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    /// The device id: hex of the public key.
    pub fn id(&self) -> String {
        hex::encode(self.public())
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Verify `sig` over `msg` by the public key `public` (32 bytes).
pub fn verify(public: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
    let pk: [u8; 32] = public.try_into().map_err(|_| {
        Error::BadSignature(format!("public key must be 32 bytes, got {}", public.len()))
    })?;
    let vk = VerifyingKey::from_bytes(&pk)
        .map_err(|e| Error::BadSignature(format!("invalid public key: {e}")))?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| {
        Error::BadSignature(format!("signature must be 64 bytes, got {}", sig.len()))
    })?;
    vk.verify(msg, &Signature::from_bytes(&sig))
        .map_err(|_| Error::BadSignature("signature does not match the signed bytes".into()))
}

pub fn decode_key_hex(s: &str) -> Result<[u8; 32]> {
    let v = hex::decode(s).map_err(|_| Error::invalid(format!("key {s:?} is not hex")))?;
    v.try_into()
        .map_err(|_| Error::invalid(format!("key {s:?} is not 32 bytes")))
}
