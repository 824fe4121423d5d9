//! cunwu-ffi: the mobile face of cunwu-core, generated into Kotlin (Android), Swift
//! (iOS) and Python by uniffi from the proc-macros in this crate (no UDL).
//!
//! It is deliberately thin. Core's records and enums cross the FFI as they are: they
//! derive uniffi's traits behind core's `uniffi` feature, which this crate turns on, so
//! they form a second uniffi component (`cunwu_core`, core/uniffi.toml) inside the same
//! library. What lives here and nowhere else is what only an FFI needs: the few records
//! that must differ for apps (`records`, each says why), one public error enum mapped
//! from core's richer one (`error`), observer callback interfaces, the shared handle per
//! store file (`store`), the tokio runtime behind the async network calls (`sync`), and
//! the words people read and hear, put by core's catalogue (`words`).
//! The generator scripts keep one Kotlin package and one Python module for apps
//! (bindings/app-names.txt). docs/MOBILE.md shows how apps use it.

uniffi::setup_scaffolding!();

mod error;
mod records;
mod store;
mod sync;
mod words;

pub use error::CunwuError;
pub use records::*;
pub use store::{CunwuStore, StoreObserver};
pub use sync::{sync_once, BackgroundSync, SyncObserver};
pub use words::{
    amount_words, days_left_words, lang_of_tag, reply_by_words, spoken_amount, when_words,
    words_of, AmountForms, Term, Words,
};

/// The version of this library (the workspace version of cunwu-ffi).
#[uniffi::export]
pub fn cunwu_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
