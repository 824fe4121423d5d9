//! Words for people (issue 14): how amounts, and later labels, dates and read-aloud
//! paragraphs, are put for a villager to read or hear. Simplified Chinese first; what
//! a person reads comes from here, never from string tables scattered in the CLI or the
//! apps. JSON keys and values elsewhere stay stable English identifiers.

pub mod money;
