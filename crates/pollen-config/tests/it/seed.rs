//! The seed's examples load into the values they spell.
