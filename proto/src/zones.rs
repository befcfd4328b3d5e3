//! Cloud regions and node labels -> grid zones (filled in by the data work, issue #4).
