//! The carbon-aware scheduler (issue #7).
