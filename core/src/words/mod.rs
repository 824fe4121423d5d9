//! Words for people (issue 14): how amounts, labels, dates and read-aloud paragraphs
//! are put for a villager to read or hear. Simplified Chinese first; what a person
//! reads comes from here (the Fluent catalogue in `core/locales`), never from string
//! tables scattered in the CLI or the apps. JSON keys and values elsewhere stay stable
//! English identifiers.

pub mod catalogue;
pub mod dates;
pub mod money;
pub mod read_aloud;

pub use catalogue::{explain, explanation, label, spoken, text, Arg, Labelled, Lang, RequestKind};
