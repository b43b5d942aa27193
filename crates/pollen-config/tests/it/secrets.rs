//! Secrets never reach `Debug` output or a masked serialisation.
