//! Copy-on-write key directory (work in progress).
